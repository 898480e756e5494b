import Torch
print(Runtime.libtorchVersion)
