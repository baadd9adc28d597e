"""A synthetic EGTEA Gaze+: the same folder layout and file formats, a world where gaze matters.

``write_synthetic_egtea(out, SynthConfig(...))`` writes::

    OUT/cropped_clips/<session>/<clip>.mp4          H.264 yuv420p, 24 fps, W×H, exactly n_frames frames
    OUT/gaze_data/<session>.txt                     SMI BeGaze v1 (OP* sessions) / v2 (P* sessions), 30 Hz
    OUT/action_annotation/{action,verb,noun}_idx.txt, {train,test}_split1.txt
    OUT/raw_annotations/action_labels.csv
    OUT/images_rgb/<clip>/%04d.jpg                  with ``frames=True`` (frame 1 = clip frame 0)
    OUT/synth_truth.json                            the ground truth (ignored by EGTEA readers)

Clip frame ``i`` shows session frame ``F_start + i``; the gaze files index samples by session frame
(``floor(t·24)`` of session time t). Labels: see :mod:`gazeattn.synth.scene` (verb = how the hand
moves the object it touches, noun = that object). The wearer fixates the acted-on object most of the time,
with the measurement errors of the real exports (calibration offset, jitter, saccades, blinks, untracked
samples, out-of-frame samples, dropped samples, clips with no gaze at all). Everything is drawn from
``numpy.random.default_rng([seed, ...])`` streams: the same seed gives byte-identical gaze, annotation and
truth files and identical decoded frames.

Difficulty: :class:`SynthConfig`'s knobs (object count and size, vocabulary, distractor nouns and motion,
camera motion, gaze noise, clip lengths, the action's share of the clip) and the named worlds of
:data:`WORLDS` (:func:`synth_world`). With every knob at its default the world is the original one, draw for
draw (``tests/test_synth_worlds.py`` pins its files and pixels).

``write_synthetic_generic(out, config)`` writes the same world in the generic layout of the user's own videos
(one video and one BeGaze file per session, ``labels.csv``, ``splits/``; :mod:`gazeattn.synth.generic_writer`),
its gaze optionally in another format (``gaze_format``: :data:`GAZE_FORMATS`; :mod:`gazeattn.synth.gaze_writers`).

Modules, in the order a world is made: ``config`` (what to make), ``plan`` (sessions, clips, labels, split, each
session's look), ``vocabulary`` (nouns, verbs, actions), ``scene`` (objects and hand and how they move),
``render`` (pixels), ``gaze`` (the wearer's gaze), ``begaze_writer`` (the SMI text exports) and ``writer``
(encoding, the files, the truth, removing a previous run's leftovers).

``synth_truth.json`` (one JSON object; positions normalised to [0, 1] of the frame, x by W and y by H):

- ``generator``, ``version``, ``seed``, ``width``, ``height``, ``fps`` (24), ``gaze_hz`` (30), ``gaze_resolution``
  ([1280, 960]), ``frame_offset`` (0: clip frame i = session frame F_start + i), ``config``, ``vocabulary``;
- ``sessions[name]``: ``begaze_version`` (1 or 2), ``n_frames``, ``n_samples``, ``calibration_offset``
  (normalised [dx, dy] added to every gaze sample), ``out_of_frame_rate``, ``empty_frame_target``, ``events``;
- ``clips[name]``: ``session``, ``split``, ``action``/``verb``/``nouns`` (1-based ids, as in the split files),
  ``action_name``/``verb_name``/``noun_names``, ``n_frames``, ``action_frames`` ([a0, a1) clip frames of the
  action proper), ``no_gaze`` (gaze deliberately removed), ``target`` (the acted-on object: ``noun``,
  ``shape``, ``colour`` RGB, ``role``, ``motion``, ``centre`` n_frames × [x, y], ``radius_px`` n_frames, in
  pixels of W×H), ``objects`` (every object, target first), ``hand_centre`` (n_frames × [x, y]),
  ``hand_radius_px``, ``hand_colour``; with camera motion only, ``camera_offset`` (n_frames × [dx, dy]: the
  camera's shift of everything on the counter, already included in every centre above); with ``gaze_lead`` only,
  ``gaze_lead`` (``from_frame``: the clip frame from which gaze that would be on the target goes to the
  ``object``-th object, or null);
- with ``gaze_offset_share`` only, ``sessions[name]["tracker_drift"]`` (normalised [dx, dy] added to the drifted
  share of the fixations, on top of the calibration offset);
- ``gaze_format`` (the generic layout with ``gaze_format`` other than begaze only): the format of the gaze files;
- ``files``: every file written, relative to OUT (``--force`` uses it to remove a previous run's leftovers).
"""

from gazeattn.synth.config import ACTION_POSITIONS, WORLD_NOTES, WORLDS, SynthConfig, synth_world
from gazeattn.synth.scene import CHOICES
from gazeattn.synth.generic_writer import write_synthetic_generic
from gazeattn.synth.gaze_writers import GAZE_FORMATS
from gazeattn.synth.writer import TRUTH_NAME, SynthSummary, write_synthetic_egtea

__all__ = ["ACTION_POSITIONS", "CHOICES", "GAZE_FORMATS", "TRUTH_NAME", "WORLDS", "WORLD_NOTES", "SynthConfig",
           "SynthSummary", "synth_world", "write_synthetic_egtea", "write_synthetic_generic"]
