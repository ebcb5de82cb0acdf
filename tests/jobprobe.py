"""A job function for the study's process pool that reports what its process sees (imports nothing heavy)."""

import os
import time


def visible_gpu(args):
    time.sleep(0.2)  # long enough for both processes of the pool to take a job
    return args[0], {"gpu": os.environ.get("CUDA_VISIBLE_DEVICES"), "pid": os.getpid()}, 0.0
