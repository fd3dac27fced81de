"""Write data/news_blog_train.tsv and data/news_blog_test.tsv (the article's §4.3 case 1).

News (label 1): third-person, dated, factual reports.  Blog (0): first-person, informal,
opinionated posts.  Both classes talk about the same topics (transport, weather, food, sport,
technology, school, health, city life), so no topic word decides the label; the style does.
A sentence is a frame (how it is said) filled with a fact (what is said) and fillers
(cities, names, numbers).  To make the split test generalisation, about a quarter of the
frames and one fact per topic and class appear ONLY in the test file.  Some items are
deliberately hard: news that quotes someone in the first person, blog posts that repeat a
piece of news or carry a date.  A few dozen hand-written items are added on top.

Deterministic: one numpy Generator, seed 2024.  Usage:  python make_news_blog.py OUT_DIR
"""
import os
import sys

import numpy as np

SEED = 2024
N_TRAIN_PER_CELL = 100    # per (label, language): 2 x 2 x 100 = 400 train items
N_TEST_PER_CELL = 30      # 2 x 2 x 30 = 120 test items

# ------------------------------------------------------------------ English fillers
CITIES = ["Riverton", "Maplewood", "Eastport", "Northbridge", "Lakeside", "Greenhill", "Stonebury", "Westfield"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
NAMES = ["Laura Chen", "David Okafor", "Maria Santos", "Tom Becker", "Aisha Rahman", "Peter Novak", "Julia Kim",
         "Samuel Reyes"]
SOURCES = ["the city council", "the transport authority", "the health department", "the weather service",
           "the school board", "local police", "the regional government", "the statistics office"]
ORGS = ["the Riverton Transit Agency", "the National Weather Office", "the Eastport Food Safety Bureau",
        "the Lakeside Sports Club", "the Northbridge Hospital", "the Westfield Chamber of Commerce"]
RIVERS = ["Silver", "Willow", "Amber", "Crane"]
FRIENDS = ["my sister", "my roommate", "my mom", "my best friend", "my neighbour", "my boyfriend"]

# topic -> (news facts, blog facts); the LAST entry of each list is used only in the test file
EN_FACTS = {
    "transport": (
        ["the city will add {N} new bus lanes before the end of the year",
         "metro line {L} will close for repairs for two weeks",
         "ticket prices on regional trains will rise by {PCT} percent",
         "a new bridge over the {RIVER} River opened to traffic",
         "the number of traffic accidents fell by {PCT} percent compared with last year"],
        ["my bus was {N} minutes late again and I nearly missed my meeting",
         "I tried cycling to work instead of taking the metro and my legs are dead",
         "we drove over the new bridge on the {RIVER} and the view was so pretty",
         "I still don't get why train tickets cost more now, the seats are just as bad",
         "I finally figured out which tram goes to my office, only took me three months lol"]),
    "weather": (
        ["heavy rain is expected across the region until {WEEKDAY}",
         "temperatures reached {T} degrees, the highest for this month in {N} years",
         "schools in {CITY} were closed after a storm brought down power lines",
         "the first snow of the season fell in the northern districts",
         "a heat warning has been issued for {N} counties"],
        ["it rained all day and my new shoes are completely ruined",
         "it was so hot today that I ate three ice creams and zero regrets",
         "we lost power during the storm so we played cards by candlelight, kind of cozy actually",
         "the first snow came and I spent an hour trying to build a snowman",
         "I hate this heat so much, my room feels like an oven"]),
    "food": (
        ["inspectors closed {N} restaurants after finding hygiene problems",
         "the price of rice rose by {PCT} percent in the past three months",
         "a new farmers market will open every {WEEKDAY} in the old town square",
         "a local bakery won the national bread competition",
         "the food bank reported a record number of visitors"],
        ["I tried the new noodle place near my flat and honestly it was amazing",
         "I burned the rice again, cooking is clearly not my thing",
         "we went to the farmers market and I bought way too many tomatoes",
         "my sourdough finally rose properly and I am weirdly proud of it",
         "I made dumplings with my grandma today and hers were so much prettier than mine"]),
    "sport": (
        ["the home team won the final {S1} to {S2} in front of {N} thousand fans",
         "the marathon will close several streets in {CITY} on {WEEKDAY}",
         "the club signed a new coach on a three-year contract",
         "the national swimming team qualified for the world championships",
         "the city stadium will be renovated at a cost of {N} million dollars"],
        ["we lost our five-a-side game {S1} to {S2} and it was entirely my fault",
         "I ran my first ten kilometres today and I want to lie down forever",
         "I watched the final with friends and we screamed so loud the neighbours knocked",
         "I signed up for swimming lessons and I'm the oldest person in the class haha",
         "I finally beat my brother at tennis after years of trying"]),
    "technology": (
        ["the company released a new phone that will go on sale on {MONTH} {DAY}",
         "a software fault disrupted online banking for about {N} hours",
         "the government plans to bring fast internet to {N} villages",
         "researchers at the university built a robot that sorts waste",
         "sales of electric cars grew by {PCT} percent last quarter"],
        ["I got the new phone and I'm not sure it's better than my old one",
         "my laptop died right before my deadline, I almost cried",
         "our internet has been down for {N} hours and I've read more books than all year",
         "I spent the whole evening setting up my smart lamp and it still won't listen",
         "I tried an electric car for a weekend and now I want one badly"]),
    "school": (
        ["the school board approved a plan to hire {N} new teachers",
         "exam results improved in {PCT} percent of the city's schools",
         "a new public library opened in the eastern district",
         "the university will cut tuition fees for students from low-income families",
         "enrolment in evening classes rose for the third year in a row"],
        ["I have three exams next week and I haven't started studying, send help",
         "my teacher said my essay was the best in the class, I'm still smiling",
         "I spent the whole afternoon in the new library, it's so quiet and bright",
         "I think homework on weekends should be banned, sorry not sorry",
         "I started an evening class in pottery and my first bowl looks like a hat"]),
    "health": (
        ["the hospital opened a new children's ward with {N} beds",
         "flu cases rose sharply in the past two weeks, doctors said",
         "the health department will offer free check-ups to people over sixty",
         "a study found that walking {N} minutes a day lowers blood pressure",
         "waiting times at emergency rooms fell by {PCT} percent"],
        ["I caught a cold and spent the whole day on the sofa feeling sorry for myself",
         "I started walking every morning and I actually feel less tired",
         "I went to the dentist today and it wasn't as bad as I feared",
         "I've been drinking more water this month and my skin looks better, I think",
         "I waited four hours at the clinic today, my patience is gone"]),
    "city": (
        ["the council will plant {N} trees along the main avenue",
         "the museum will stay open until ten on {WEEKDAY}s this summer",
         "rents in {CITY} rose by {PCT} percent over the past year",
         "the old cinema will be turned into a community centre",
         "the number of tourists visiting the city reached a new record"],
        ["they planted trees on my street and it finally looks green",
         "I went to the museum late on {WEEKDAY} and had the whole gallery to myself",
         "my landlord raised the rent again, I think I need to move",
         "the old cinema near my place is closing and I feel strangely sad about it",
         "the city is full of tourists and I can't even get a coffee in peace"]),
}

EN_NEWS_FRAMES = [
    "{CITY}, {MONTH} {DAY} — {Fact}, {source} said.",
    "On {WEEKDAY}, {source} said {fact}.",
    "{Fact}, {source} announced on {WEEKDAY}.",
    "{Source} confirmed on {MONTH} {DAY} that {fact}.",
    "{Fact}. {NAME}, a spokesperson for {ORG}, said the details would be published in {MONTH}.",
    "{Fact}. \"We are following the situation closely,\" {NAME} told reporters.",
    "According to figures released on {MONTH} {DAY}, {fact}.",
    "{Fact}, officials said on {WEEKDAY}.",
    "{CITY} ({MONTH} {DAY}) — Officials said {fact}. The plan was approved by a vote of {S1} to {S2}.",
    "{Fact}.",                                                  # hard: no date, no source
    "{Fact}.",
    # test only
    "In a statement issued on {WEEKDAY}, {source} said {fact}.",
    "{Fact}, according to a report published by {ORG} on {MONTH} {DAY}.",
    "{MONTH} {DAY}, {CITY}: {fact}, the local authorities confirmed.",
]
EN_NEWS_TEST_ONLY = 3
EN_BLOG_FRAMES = [
    "{Opener} {bfact}. {Reaction}",
    "{Bfact}! {Reaction}",
    "So {bfact}. {Opinion}",
    "Quick update: {bfact}. {Reaction}",
    "Okay, confession time: {bfact}. {Opinion}",
    "Saw on the news that {fact}. {Opinion}",                 # hard: a blog repeating a news fact
    "On {MONTH} {DAY} {bfact}. {Reaction}",                   # hard: a blog with a date
    "{Opener} {bfact}, and {friend} laughed at me. {Reaction}",
    "{Bfact}. {Opinion} Anyway, that was my {WEEKDAY}.",
    "{bare}",                                                   # hard: no "I", just a short informal line
    "{bare}",
    # test only
    "Not gonna lie, {bfact}. {Reaction}",
    "Dear diary, {bfact}. {Opinion}",
    "Small win today: {bfact}. {Reaction}",
]
EN_BLOG_TEST_ONLY = 3
EN_OPENERS = ["Honestly,", "Okay so", "Ugh,", "Guess what:", "Today", "Yesterday", "Last weekend", "This morning",
              "Funny story:", "Well,"]
EN_REACTIONS = ["I loved it.", "Best decision ever.", "I'm still annoyed.", "Would not recommend.", "Made my day!",
                "Not sure how I feel about it.", "Anyway, back to work.", "What do you all think?",
                "Never again lol.", "10/10, would do it again."]
EN_OPINIONS = ["I think it's a terrible idea.", "In my opinion it's about time.", "Honestly I don't care that much.",
               "Personally I'm excited.", "I really think people overreact to this stuff.",
               "If you ask me, it's a good thing."]

# ------------------------------------------------------------------ Chinese fillers
ZH_CITIES = ["江城", "青州", "南平", "海宁", "云山", "北塘", "西岭", "临河"]
ZH_NAMES = ["王明", "李静", "张伟", "刘洋", "陈芳", "赵磊", "孙丽", "周强"]
ZH_SOURCES = ["市交通局", "市气象台", "市卫生健康委", "市教育局", "市市场监管局", "区政府", "市统计局", "市体育局"]
ZH_MEDIA = ["本地晚报", "城市日报", "广播电台", "新闻网"]
ZH_RIVERS = ["青河", "柳江", "白沙河", "月湖"]
ZH_FRIENDS = ["我妈", "室友", "闺蜜", "我弟", "同事", "男朋友"]

ZH_FACTS = {
    "transport": (
        ["全市新增公交专用道{N}条", "地铁{L}号线将停运检修两周", "城际列车票价上调{PCT}%",
         "{RIVER}大桥正式建成通车", "今年交通事故数量同比下降{PCT}%"],
        ["我等的公交又晚了{N}分钟，差点迟到", "我今天试着骑车上班，腿都快断了", "我们开车走了新修的{RIVER}大桥，风景真的超美",
         "火车票又涨价了，座位还是那么难坐，我真的不理解", "我终于搞清楚哪路电车能到公司了，只花了三个月哈哈"]),
    "weather": (
        ["全市将出现持续降雨天气，预计持续到周{W}", "最高气温达到{T}摄氏度，为{N}年来同期最高",
         "受暴雨影响，{CITY}部分学校停课一天", "北部山区迎来今年首场降雪", "气象部门对{N}个区县发布高温预警"],
        ["下了一整天的雨，我的新鞋彻底报废了", "今天热到我一口气吃了三根雪糕，毫无悔意", "暴雨停电了，我们点着蜡烛打牌，居然还挺温馨",
         "下第一场雪了，我花了一个小时堆雪人", "这天气热得我受不了，房间跟蒸笼一样"]),
    "food": (
        ["执法人员检查后责令{N}家餐馆停业整改", "近三个月大米价格上涨{PCT}%", "老城广场每周{W}将开设农贸集市",
         "本市一家面包店获得全国面包比赛冠军", "食物银行接待人数创历史新高"],
        ["我去吃了家门口新开的面馆，说实话真的绝了", "我又把饭煮糊了，做饭真不是我的强项", "我们去逛了农贸集市，我买了一大堆西红柿",
         "我做的酸面包终于发起来了，莫名很有成就感", "今天跟奶奶一起包饺子，她包的比我的好看太多"]),
    "sport": (
        ["主队在决赛中以{S1}比{S2}获胜，现场观众约{N}千人", "马拉松比赛期间{CITY}多条道路将临时封闭",
         "俱乐部与新任主教练签下三年合同", "国家游泳队获得世锦赛参赛资格", "市体育场将投入{N}亿元进行改造"],
        ["我们的五人制比赛{S1}比{S2}输了，全怪我", "我今天第一次跑完十公里，现在只想躺平", "和朋友一起看决赛，我们叫得太大声被邻居敲门了",
         "我报了游泳课，结果是班里年纪最大的哈哈", "我终于在网球上赢了我弟，等这一天等了好多年"]),
    "technology": (
        ["该公司发布新款手机，将于{M}月{D}日开售", "一次软件故障导致网上银行服务中断约{N}小时", "政府计划为{N}个村庄接入高速网络",
         "大学研究人员研制出一款垃圾分拣机器人", "上季度电动汽车销量增长{PCT}%"],
        ["我换了新手机，感觉也没比旧的好多少", "截止日期前电脑突然坏了，我差点哭出来", "家里断网{N}个小时了，我看的书比一年都多",
         "我花了一晚上设置智能台灯，它还是不听我的", "我试开了一个周末电动车，现在超级想买"]),
    "school": (
        ["市教育局批准计划，新招聘教师{N}名", "全市{PCT}%的学校考试成绩有所提高", "东区新建的公共图书馆正式开放",
         "大学将为低收入家庭学生减免学费", "夜校报名人数连续第三年增长"],
        ["下周三门考试，我还一页书都没看，救命", "老师说我的作文是全班最好的，我到现在还在傻笑", "我在新图书馆待了一下午，又安静又亮堂",
         "我觉得周末就不该布置作业，不接受反驳", "我报了夜校的陶艺课，第一个碗做得像顶帽子"]),
    "health": (
        ["医院新开设儿科病区，设有床位{N}张", "医生表示，近两周流感病例明显增加", "市卫生健康委将为六十岁以上老人提供免费体检",
         "一项研究发现每天步行{N}分钟有助于降低血压", "急诊平均等候时间缩短{PCT}%"],
        ["我感冒了，在沙发上躺了一整天，好惨", "我开始每天早上散步，真的没那么累了", "今天去看牙医，没有我想的那么可怕",
         "这个月我多喝水，感觉皮肤好了一点", "今天在诊所等了四个小时，我的耐心已经用完了"]),
    "city": (
        ["市里将在主干道两侧种植{N}棵树", "今年夏天博物馆周{W}将延长开放至晚上十点", "过去一年{CITY}房租上涨{PCT}%",
         "老电影院将改建为社区活动中心", "来本市旅游的人数创下新纪录"],
        ["我家那条街终于种上树了，看着舒服多了", "周{W}晚上去博物馆，整个展厅几乎只有我一个人", "房东又涨房租了，我觉得该搬家了",
         "我家附近的老电影院要关门了，莫名有点难过", "城里到处都是游客，我连安安静静喝杯咖啡都难"]),
}

ZH_NEWS_FRAMES = [
    "本报讯（记者{NAME}）{M}月{D}日，{SOURCE}宣布，{fact}。",
    "据{MEDIA}{M}月{D}日报道，{fact}。",
    "记者{D}日从{SOURCE}获悉，{fact}。",
    "{SOURCE}{D}日发布消息称，{fact}。",
    "{fact}，{SOURCE}相关负责人表示。",
    "{fact}。“我们会继续做好相关工作，”{SOURCE}负责人{NAME}说。",
    "截至{M}月{D}日，{fact}。",
    "{CITY}讯 {fact}，有关部门提醒市民提前做好准备。",
    "{M}月{D}日上午，{SOURCE}召开会议，会议通报{fact}。",
    "{fact}。",                                                 # hard: no date, no source
    "{fact}。",
    # test only
    "{SOURCE}在{D}日举行的新闻发布会上介绍，{fact}。",
    "新华社{CITY}{M}月{D}日电 {fact}。",
    "{CITY}{M}月{D}日消息：{fact}，相关工作正在推进。",
]
ZH_NEWS_TEST_ONLY = 3
ZH_BLOG_FRAMES = [
    "{OPENER}{bfact}，{REACTION}",
    "{bfact}！{REACTION}",
    "吐槽一下：{bfact}。{OPINION}",
    "更新一下近况：{bfact}。{REACTION}",
    "坦白说，{bfact}。{OPINION}",
    "刷到新闻说{fact}，{OPINION}",                 # hard: a blog repeating a news fact
    "{M}月{D}日，{bfact}。{REACTION}",             # hard: a blog with a date
    "{OPENER}{bfact}，{friend}笑了我半天。{REACTION}",
    "{bfact}。{OPINION}这就是我的周{W}。",
    "{bare}",                                                   # hard: no "我", just a short informal line
    "{bare}",
    # test only
    "记录一下，{bfact}。{REACTION}",
    "不得不说，{bfact}，{OPINION}",
    "碎碎念：{bfact}。{REACTION}",
]
ZH_BLOG_TEST_ONLY = 3
ZH_OPENERS = ["今天", "昨天", "说实话，", "周末", "哎，", "终于，", "话说", "这两天"]
ZH_REACTIONS = ["真的太开心了！", "有点失望。", "下次还来！", "心情复杂。", "大家觉得呢？", "不推荐。", "哈哈哈。",
                "气死我了。", "满分好评！", "就这样吧。"]
ZH_OPINIONS = ["我觉得这事挺好的。", "说真的，我不太赞成。", "个人觉得早该这样了。", "反正我是无所谓。",
               "我觉得大家有点小题大做了。", "要我说，这是好事。"]
ZH_WEEKDAYS = ["一", "二", "三", "四", "五", "六", "日"]

# topic -> short informal lines without a first-person pronoun (the last one: test only)
EN_BARE = {
    "transport": ["Bus 12 late AGAIN. Classic.", "Cycling to work in this wind? Never again.",
                  "Who designed these train seats, seriously?"],
    "weather": ["Rain, rain and more rain. New shoes: ruined.", "Way too hot for this time of year, come on.",
                "Snow! Finally! Snowman season is open."],
    "food": ["That new noodle place by the station? Absolutely worth it.", "Burnt rice for dinner, what a day.",
             "Fresh tomatoes from the market taste like summer, no joke."],
    "sport": ["What a final!! Still can't believe that last goal.", "Ten kilometres done. Legs: gone.",
              "Tennis rematch next week, bring it on."],
    "technology": ["New phone, same problems lol.", "Laptop crashed an hour before the deadline. Perfect timing.",
                   "Smart lamp, dumb owner. Still can't make it work."],
    "school": ["Three exams next week, zero motivation.", "Best essay in the class?? Still smiling.",
               "Pottery class update: the bowl looks like a hat."],
    "health": ["Day three of this cold. Send soup.", "Morning walks are underrated, seriously.",
               "Four hours in a waiting room. Patience level: zero."],
    "city": ["Trees on the street at last, finally some green.", "Rent up again?! Time to pack, apparently.",
             "Tourists everywhere, not a single free table. Sigh."],
}
ZH_BARE = {
    "transport": ["公交又晚点了，服了。", "这么大的风骑车上班？再也不了。", "这火车座位谁设计的，太难坐了吧。"],
    "weather": ["雨雨雨，新鞋全泡汤了。", "这天也太热了吧，受不了。", "下雪啦！终于可以堆雪人了！"],
    "food": ["车站旁边那家新面馆，绝了，强推！", "晚饭又煮糊了，今天真是够了。", "集市上的西红柿真甜，有夏天的味道。"],
    "sport": ["决赛太精彩了！！最后那个球到现在还不敢相信。", "十公里跑完了，腿已经不是自己的了。", "下周网球再战，放马过来。"],
    "technology": ["新手机，老问题，哈哈。", "截止前一小时电脑死机，时机真是完美。", "智能台灯，笨蛋主人，到现在还没弄好。"],
    "school": ["下周三门考试，完全不想复习。", "全班最好的作文？？笑到现在。", "陶艺课进度：碗做成了帽子。"],
    "health": ["感冒第三天，求安慰。", "早上散步真的被低估了。", "候诊室坐了四个小时，耐心归零。"],
    "city": ["街上终于种树了，总算有点绿色。", "房租又涨了？！看来得搬家了。", "到处都是游客，一张空桌子都没有，唉。"],
}

# Genre against style: news features written in a chatty tone, and blog posts written like
# announcements or about someone else.  The label is the genre; the cues are weaker.
# (The last two of each list: test only.)
EN_HARD_NEWS = [
    "Fancy a swim? The city's outdoor pools open on {WEEKDAY}, with tickets at {N} dollars.",
    "Love them or hate them, e-scooters are back: {N} of them return to the streets of {CITY} from {MONTH} {DAY}.",
    "\"I was on the bus when the lights went out,\" said {NAME}, one of {N} passengers stuck for an hour on {WEEKDAY}.",
    "Bad news for coffee lovers: prices at cafes in {CITY} have gone up by {PCT} percent since spring.",
    "Good luck finding a parking space near the station this month, as {N} spaces close for building work.",
    "\"We cried, we laughed, we hugged,\" {NAME} said after the team's win on {WEEKDAY}.",
    "Still looking for a summer job? The city is hiring {N} lifeguards before {MONTH} {DAY}.",
    "\"My shop has never been this quiet,\" says {NAME}, one of many traders hit by the road works.",
]
EN_HARD_BLOG = [
    "Club news: our team won the final {S1}-{S2} on {WEEKDAY}. Training starts again in {MONTH}.",
    "Update from the community garden: {N} new beds were built this month and the water tank is fixed.",
    "Grandpa turned ninety on {WEEKDAY} and the whole family came over, what a day.",
    "The bakery on the corner closes for good on {MONTH} {DAY}. End of an era for this street.",
    "Reading list for {MONTH}: {N} books, two of them about trains. Reviews coming soon.",
    "The neighbours' dog has learned to open the gate. Nobody is safe anymore.",
    "Garden report: {N} tomatoes, one pumpkin and a very confused sunflower.",
    "Mum's new hobby is birdwatching. Last weekend she counted {N} sparrows and one very rude pigeon.",
]
ZH_HARD_NEWS = [
    "想游泳了吗？本周{W}起，全市露天泳池陆续开放，门票{N}元。",
    "共享电动车又回来了：{M}月{D}日起，{N}辆电动车重新投放{CITY}街头。",
    "“灯灭的时候我正在车上，”乘客{NAME}说。周{W}晚，{N}名乘客被困一个小时。",
    "爱喝咖啡的市民注意了：开春以来，{CITY}咖啡馆价格平均上涨{PCT}%。",
    "这个月去火车站附近停车可不容易，{N}个车位因施工暂停使用。",
    "“我们哭了，也笑了，”{NAME}在球队周{W}夺冠后说。",
    "还在找暑期工作？市里将在{M}月{D}日前招聘救生员{N}名。",
    "“我的店从来没这么冷清过，”受道路施工影响的商户{NAME}说。",
]
ZH_HARD_BLOG = [
    "社团通知：我们队周{W}以{S1}比{S2}赢下决赛，{M}月恢复训练。",
    "社区菜园近况：本月新搭了{N}个菜畦，水箱也修好了。",
    "外公周{W}过九十大寿，一大家子人都来了，热闹极了。",
    "街角那家面包店{M}月{D}日就要关门了，这条街的一个时代结束了。",
    "{M}月书单：{N}本书，其中两本讲火车，书评随后奉上。",
    "邻居家的狗学会开门了，从此谁都不安全了。",
    "菜园汇报：{N}个西红柿，一个南瓜，还有一棵很迷茫的向日葵。",
    "老妈新爱好是观鸟，上周末她数到{N}只麻雀和一只很没礼貌的鸽子。",
]
# Cross cues: a clause that carries the OTHER genre's words, in this genre's way: news quote
# people in the first person, blogs pass on figures and official words.  Which genre a word
# belongs to then depends on where it stands (inside quotes, after "apparently"), which a bag of
# words cannot see.  (The last two of each list: test only.)
EN_NEWS_CROSS = [
    "\"I think it will help my family,\" said {NAME}, who lives nearby.",
    "\"My kids are happy, and so am I,\" one resident said.",
    "\"Honestly, we did not expect it,\" {NAME} told reporters.",
    "\"I love this city and I want it to work,\" the mayor said.",
    "\"It was my best day in years,\" {NAME} said with a smile.",
    "\"I was really surprised,\" admitted {NAME}, a local teacher.",
]
EN_BLOG_CROSS = [
    "Apparently the city will spend {N} million dollars on it.",
    "The news said {PCT} percent of people agree, which I doubt.",
    "The officials said it will be finished by {MONTH}, we will see.",
    "According to the council, it will cost {N} million, wow.",
    "My friend said the report will be published in {MONTH}, lol.",
    "The mayor said it will help, the official statement said so too, haha.",
]
ZH_NEWS_CROSS = [
    "“我觉得这对我们家有帮助，”附近居民{NAME}说。",
    "“孩子们很开心，我也很开心，”一位居民说。",
    "“说实话，我们没想到，”{NAME}对记者说。",
    "“我爱这座城市，希望它越来越好，”市长说。",
    "“这是我这些年最开心的一天，”{NAME}笑着说。",
    "“我真的很意外，”当地教师{NAME}坦言。",
]
ZH_BLOG_CROSS = [
    "听说市里将为此投入{N}亿元。",
    "新闻说{PCT}%的人都支持，我反正不信。",
    "官方说{M}月底完工，等着瞧吧。",
    "据市里说要花{N}亿元，真的假的。",
    "朋友说报告{M}月发布，哈哈。",
    "市长说这是好事，官方通报也是这么说的，哈哈。",
]
CROSS_SHARE = 0.4     # share of template items that get one cross-cue clause
HARD_SHARE = {"train": 0.08, "test": 0.3}   # share of generated items drawn from the lists above
TEST_ONLY_SHARE = 0.8  # a test item uses a held-out frame (fact, line) with this probability

# ------------------------------------------------------------------ hand-written items
# (text, label, split): written one by one, less regular than the templates
HAND = [
    ("The regional parliament passed the new housing law late on Thursday after a twelve-hour debate.", 1, "train"),
    ("Two hikers missing since Sunday were found alive on Mount Ash, the rescue team said.", 1, "train"),
    ("Factory output in the province grew 3.2 percent in the first half of the year.", 1, "train"),
    ("The airport will open a second runway next spring, its operator said in a filing.", 1, "train"),
    ("Police arrested three men suspected of stealing copper cable from the railway.", 1, "train"),
    ("\"I have never seen a flood like this,\" said a 70-year-old farmer, as water covered the fields on Tuesday.", 1, "train"),
    ("Organisers said more than 40,000 people attended the three-day music festival.", 1, "test"),
    ("The central bank kept interest rates unchanged at its meeting on Wednesday.", 1, "test"),
    ("A fire broke out in a warehouse in the harbour district early on Monday; no one was hurt.", 1, "test"),
    ("I read the whole housing law so you don't have to. Short version: my rent is still too high.", 0, "train"),
    ("Finally cleaned my balcony and now I sit out there with tea like a retired grandpa.", 0, "train"),
    ("Does anyone else talk to their plants? Mine seem to like jazz.", 0, "train"),
    ("I went to the music festival and lost my voice, my phone and one shoe. Worth it.", 0, "train"),
    ("My cat knocked my coffee onto my keyboard this morning so today is off to a great start.", 0, "train"),
    ("The flood last week scared me more than I admit. We moved the books upstairs just in case.", 0, "train"),
    ("Spent my Sunday repainting the kitchen yellow. My partner hates it, I love it.", 0, "test"),
    ("Honestly the new runway noise is driving me mad, I can hear every plane at 6 a.m.", 0, "test"),
    ("I'm learning to knit and so far I've made one very long, very sad scarf.", 0, "test"),
    ("省人大常委会周四表决通过新修订的住房条例。", 1, "train"),
    ("两名周日失联的登山者在灰山被找到，救援队称二人身体状况良好。", 1, "train"),
    ("今年上半年全省工业产值同比增长3.2%。", 1, "train"),
    ("机场运营方表示，第二条跑道将于明年春季启用。", 1, "train"),
    ("警方抓获三名涉嫌盗窃铁路电缆的男子。", 1, "train"),
    ("“这么大的水我这辈子没见过，”一位七十岁的村民说。周二洪水漫过了农田。", 1, "train"),
    ("主办方称，为期三天的音乐节共吸引观众逾四万人次。", 1, "test"),
    ("央行周三召开会议，决定维持利率不变。", 1, "test"),
    ("周一凌晨港区一仓库发生火灾，未造成人员伤亡。", 1, "test"),
    ("把新住房条例从头看了一遍，结论：我的房租还是太贵。", 0, "train"),
    ("终于把阳台收拾干净了，现在每天坐在那儿喝茶，像个退休老大爷。", 0, "train"),
    ("有人跟我一样会跟植物说话吗？我家的绿萝好像喜欢听爵士。", 0, "train"),
    ("去了音乐节，嗓子哑了，手机丢了，还丢了一只鞋。值了！", 0, "train"),
    ("早上猫把咖啡打翻在键盘上，今天开局真是完美。", 0, "train"),
    ("上周那场洪水把我吓坏了，我们把书全搬到了楼上。", 0, "train"),
    ("周日把厨房刷成了黄色，对象说丑，我觉得好看极了。", 0, "test"),
    ("新跑道的噪音快把我逼疯了，早上六点每架飞机我都听得见。", 0, "test"),
    ("我在学织毛衣，目前的成果是一条又长又丧的围巾。", 0, "test"),
]


def fill(template, rng, zh):
    """Replace every {SLOT} of a template with a random filler."""
    pick = lambda seq: seq[rng.integers(len(seq))]  # noqa: E731
    values = {
        "CITY": pick(ZH_CITIES if zh else CITIES), "NAME": pick(ZH_NAMES if zh else NAMES),
        "MONTH": pick(MONTHS), "M": str(rng.integers(1, 13)), "DAY": str(rng.integers(1, 29)),
        "D": str(rng.integers(1, 29)), "WEEKDAY": pick(WEEKDAYS), "W": pick(ZH_WEEKDAYS),
        "SOURCE": pick(ZH_SOURCES), "source": pick(SOURCES), "ORG": pick(ORGS), "MEDIA": pick(ZH_MEDIA),
        "RIVER": pick(ZH_RIVERS if zh else RIVERS), "N": str(rng.integers(2, 60)), "PCT": str(rng.integers(2, 30)),
        "T": str(rng.integers(33, 42)), "L": str(rng.integers(1, 9)), "S1": str(rng.integers(2, 5)),
        "S2": str(rng.integers(0, 2)), "friend": pick(ZH_FRIENDS if zh else FRIENDS),
        "OPENER": pick(ZH_OPENERS), "REACTION": pick(ZH_REACTIONS), "OPINION": pick(ZH_OPINIONS),
        "Opener": pick(EN_OPENERS), "Reaction": pick(EN_REACTIONS), "Opinion": pick(EN_OPINIONS),
    }
    values["Source"] = values["source"][0].upper() + values["source"][1:]
    out = template
    for key, value in values.items():
        out = out.replace("{" + key + "}", value)
    return out


# topic -> (English sources, English organisations, Chinese sources): who would report it
TOPIC_SOURCES = {
    "transport": (["the transport authority", "the city council"], ["the Riverton Transit Agency"], ["市交通局", "区政府"]),
    "weather": (["the weather service", "the regional government"], ["the National Weather Office"], ["市气象台", "区政府"]),
    "food": (["the food safety bureau", "the city council"], ["the Eastport Food Safety Bureau"],
             ["市市场监管局", "区政府"]),
    "sport": (["the sports club", "the city council"], ["the Lakeside Sports Club"], ["市体育局", "区政府"]),
    "technology": (["the regional government", "the statistics office"], ["the Westfield Chamber of Commerce"],
                   ["市统计局", "区政府"]),
    "school": (["the school board", "the city council"], ["the school board"], ["市教育局", "区政府"]),
    "health": (["the health department", "the regional government"], ["the Northbridge Hospital"],
               ["市卫生健康委", "区政府"]),
    "city": (["the city council", "the statistics office"], ["the Westfield Chamber of Commerce"],
             ["区政府", "市统计局"]),
}


def with_sources(text, topic, rng):
    """Fill {source}, {Source}, {ORG}, {SOURCE} with someone who would report on this topic."""
    en, orgs, zh = TOPIC_SOURCES[topic]
    source = en[rng.integers(len(en))]
    return (text.replace("{source}", source).replace("{Source}", cap(source))
            .replace("{ORG}", orgs[rng.integers(len(orgs))]).replace("{SOURCE}", zh[rng.integers(len(zh))]))


def cap(s):
    return s[0].upper() + s[1:]


def make_item(rng, label, zh, split):
    if rng.random() < HARD_SHARE[split]:
        pool = {(1, False): EN_HARD_NEWS, (0, False): EN_HARD_BLOG, (1, True): ZH_HARD_NEWS,
                (0, True): ZH_HARD_BLOG}[label, zh]
        if split == "test" and rng.random() < TEST_ONLY_SHARE:
            return fill(pool[len(pool) - 3 + rng.integers(3)], rng, zh)
        return fill(pool[rng.integers(len(pool) - 3)], rng, zh)
    facts = ZH_FACTS if zh else EN_FACTS
    if label == 1:
        frames, n_test_only = (ZH_NEWS_FRAMES, ZH_NEWS_TEST_ONLY) if zh else (EN_NEWS_FRAMES, EN_NEWS_TEST_ONLY)
    else:
        frames, n_test_only = (ZH_BLOG_FRAMES, ZH_BLOG_TEST_ONLY) if zh else (EN_BLOG_FRAMES, EN_BLOG_TEST_ONLY)
    shared_frames = frames[:-n_test_only]
    # test items draw half of their frames from the test-only ones
    if split == "test" and rng.random() < TEST_ONLY_SHARE:
        frame = frames[len(frames) - n_test_only + rng.integers(n_test_only)]
    else:
        frame = shared_frames[rng.integers(len(shared_frames))]
    topic = list(facts)[rng.integers(len(facts))]
    news_facts, blog_facts = facts[topic]

    def choose(pool):
        # the last fact of each pool is held out for the test split (used there half of the time)
        if split == "test" and rng.random() < TEST_ONLY_SHARE:
            return pool[-1]
        return pool[rng.integers(len(pool) - 1)]

    fact = fill(choose(news_facts), rng, zh)
    bfact = fill(choose(blog_facts), rng, zh)
    bare = choose((ZH_BARE if zh else EN_BARE)[topic])
    text = frame.replace("{Fact}", cap(fact)).replace("{fact}", fact)
    text = text.replace("{Bfact}", cap(bfact)).replace("{bfact}", bfact).replace("{bare}", bare)
    if rng.random() < CROSS_SHARE:
        pool = {(1, False): EN_NEWS_CROSS, (0, False): EN_BLOG_CROSS, (1, True): ZH_NEWS_CROSS,
                (0, True): ZH_BLOG_CROSS}[label, zh]
        if split == "test" and rng.random() < TEST_ONLY_SHARE:
            clause = pool[len(pool) - 2 + rng.integers(2)]
        else:
            clause = pool[rng.integers(len(pool) - 2)]
        text = text + ("" if zh else " ") + clause
    return fill(with_sources(text, topic, rng), rng, zh)


def build(rng):
    splits = {"train": [], "test": []}
    seen = set()
    for text, label, split in HAND:
        splits[split].append((text, label))
        seen.add(text)
    for split, n in (("train", N_TRAIN_PER_CELL), ("test", N_TEST_PER_CELL)):
        for label in (1, 0):
            for zh in (False, True):
                have = sum(1 for t, y in splits[split] if y == label and _is_zh(t) == zh)
                while have < n:
                    text = make_item(rng, label, zh, split)
                    if text in seen:
                        continue
                    seen.add(text)
                    splits[split].append((text, label))
                    have += 1
    for split in splits:
        order = rng.permutation(len(splits[split]))
        splits[split] = [splits[split][i] for i in order]
    return splits


def _is_zh(text):
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def write_tsv(path, rows):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write("sentence\tlabel\n")
        for text, label in rows:
            assert "\t" not in text and "\n" not in text, text
            f.write(f"{text}\t{label}\n")
    os.replace(tmp, path)


def main(out_dir):
    splits = build(np.random.default_rng(SEED))
    write_tsv(os.path.join(out_dir, "news_blog_train.tsv"), splits["train"])
    write_tsv(os.path.join(out_dir, "news_blog_test.tsv"), splits["test"])
    for split, rows in splits.items():
        print(split, len(rows), "news", sum(y for _, y in rows), "zh", sum(_is_zh(t) for t, _ in rows))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")
