"""Real images: offline image data, the book's diffusers UNet and its DDPM training (unconditional or
class-conditional), features across noise levels and the probes, SNR and label-noise ensemble on them (paper 1,
chapter 8), classifier-free guided sampling and an independent judge (paper 3, chapter 9)."""
