"""gazeattn: human gaze as a structured discrete latent, turned into attention, for egocentric action recognition."""

__version__ = "0.1.0"
