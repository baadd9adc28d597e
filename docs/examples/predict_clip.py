from gazeattn.inference import load_predictor
from gazeattn.report.overlays import write_overlay

# a run folder (its newest checkpoint that verifies), a checkpoint folder, or a model.safetensors
predictor = load_predictor("runs/direct")
pred = predictor.predict("clip.mp4", top=5)  # 24-frame windows from frame 0, centre crop, logits averaged
for rank in pred.top:  # best first: (label, name, probability)
    print(f"{rank.name:<24} {rank.probability:.3f}")
print("gaze q per window and slot:", pred.gaze.shape)  # (windows, T', H', W')
write_overlay(pred, "clip_gaze.gif")  # gaze and attention over the frames the model saw
