"""Neural-network modules of emofast (losses, models)."""
from emofast.nn.cnn import GroupNormCNN
from emofast.nn.losses import ContrastiveLoss

__all__ = ["ContrastiveLoss", "GroupNormCNN"]
