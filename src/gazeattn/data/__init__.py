"""The EGTEA Gaze+ data layer: annotations, gaze files, videos, frame folders, targets, the Dataset."""
