"""emorecog.layers: the Keras layers of the model, one public layer per module.

band_features.BandFeatures (the e_i of eq. 1), band_attention.BandAttention (eq. 1-2), face_encoder.FaceEncoder,
glimpse_encoder.GlimpseEncoder (a glimpsed frame's state-independent features), glimpse_fusion.GlimpseFusion
(band attention + weight-shared first LSTM layer), stacked_lstm_core.StackedLSTMCore,
inter_layer_self_attention.InterLayerSelfAttention (eq. 3-7) and layer_variance_penalty (eq. 8-9),
trial_skim.TrialSkim (the cheap skim of every frame), segment_location_policy.SegmentLocationPolicy (the
searching location policy), location_network.LocationNetwork (the paper's Gaussian policy) and
location_to_frame, stop_policy.StopPolicy (the stop action), baseline_network.BaselineNetwork.
Every layer is registered serialisable under the package name "emorecog", and the models call each through
`__call__` (the path the conformance tests check). Import the modules directly.
"""
