"""emorecog.layers: the Keras layers of the model, one public layer per module.

band_attention.BandAttention (eq. 1-2), eeg_normalization.EEGNormalization, face_encoder.FaceEncoder,
glimpse_network.GlimpseNetwork (glimpse + weight-shared first LSTM layer), stacked_lstm_core.StackedLSTMCore,
inter_layer_self_attention.InterLayerSelfAttention (eq. 3-7) and layer_variance_penalty (eq. 8-9),
trial_skim.TrialSkim (the cheap skim of every frame), segment_location_policy.SegmentLocationPolicy (the
searching location policy), location_network.LocationNetwork (the paper's Gaussian policy) and
location_to_frame, stop_policy.StopPolicy (the stop action), baseline_network.BaselineNetwork.
Every layer is registered serialisable under the package name "emorecog". Import the modules directly.
"""
