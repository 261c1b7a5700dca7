"""video_actions: the action in a video from frames sampled at 1 FPS, CNN features per frame, RNN over time.

The lesson's many-to-one example: a 30 s video sampled at 1 frame per second gives 30 images, a CNN turns
each into x_t, the RNN reads x_1..x_30 and a softmax over its last state s_30 names the action. Its point,
measured in metrics.json: order matters. The built-in actions include pairs that are each other's reversal
in time (sit_down / stand_up, fall_down / get_up, walk_left / walk_right); averaging frame features cannot
separate them, the RNN can, and shuffling the frames breaks it.

Input: a video file (MP4, AVI, ...; user data in the UCF101 layout), TFDS `ucf101`, or precomputed per-frame
features (.npz). Output: the action name and the probabilities of every action.

Run: python -m tasks.video_actions.train --config configs/video_actions.yaml
     python -m tasks.video_actions.predict --model exports/video_actions clip.mp4
"""

from tasks.common.task import QualityBar, Summary

SUMMARY = Summary(metric="reversal_pairs_accuracy", baseline="order_blind",
                  quality_bar=QualityBar("val_accuracy", 0.95))
