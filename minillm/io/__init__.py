"""Reading and writing weights: minillm's .npz checkpoints and the safetensors format."""
from minillm.io.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from minillm.io.safetensors import SafeTensorsFile, load_file, read_metadata, save_file

__all__ = ["Checkpoint", "load_checkpoint", "save_checkpoint",
           "SafeTensorsFile", "load_file", "read_metadata", "save_file"]
