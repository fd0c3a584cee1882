"""Neural-network modules of emofast (losses, models)."""
from emofast.nn.cnn import GroupNormCNN
from emofast.nn.domain import DomainClassifier, GradientReversal, grad_reverse, mmd_loss
from emofast.nn.losses import ContrastiveLoss
from emofast.nn.pathnet import PathNet
from emofast.nn.sequence import SequenceClassifier

__all__ = ["ContrastiveLoss", "PathNet", "GroupNormCNN", "SequenceClassifier", "DomainClassifier",
           "GradientReversal", "grad_reverse", "mmd_loss"]
