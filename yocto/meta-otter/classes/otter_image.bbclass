# Adds Otter to an image: `inherit otter_image` in an image recipe, or
# IMAGE_CLASSES += "otter_image" in local.conf. On LmP use SOTA_CLIENT = "otter" instead: lmp.conf
# already installs ${SOTA_CLIENT}.
IMAGE_INSTALL:append = " otter"
# The boot scripts are deployed next to the image for the boot partition (wic or the BSP recipe).
EXTRA_IMAGEDEPENDS:append = " otter-boot-scripts"
