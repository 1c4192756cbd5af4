"""Paper 1 on real images (chapter 8): offline image data, the book's diffusers UNet and its DDPM training,
features across noise levels, and the probes, SNR and label-noise ensemble on them."""
