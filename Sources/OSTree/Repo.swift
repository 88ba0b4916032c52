import COSTree
import OtterCrypto
