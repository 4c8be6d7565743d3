"""SynsetLab's standalone training package: pure torch/torchvision/timm/webdataset, no Django.

`python -m training --data EXPORT_DIR --arch resnet18 --epochs 10 --out RUN_DIR` (training/cli.py);
the export layout is training/EXPORT_FORMAT.md; models and checkpoints are in training/models.py.
"""
