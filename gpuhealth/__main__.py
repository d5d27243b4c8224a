"""`python -m gpuhealth` runs the gpuhealth command."""

from gpuhealth.cli import main

main()
