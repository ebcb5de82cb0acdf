"""The torch side of wsolbench: backbones, WSOL methods, training, CAM extraction.

Importing this package does not import torch; its submodules do. Imports inside ``nn/`` go one
way: ``layers`` -> ``backbones`` -> ``methods`` -> ``train`` / ``extract`` -> ``runner``.

Example:
    >>> from wsolbench.nn.backbones import create_backbone   # doctest: +SKIP
    >>> model = create_backbone("smallcnn", num_classes=10)    # doctest: +SKIP
"""
