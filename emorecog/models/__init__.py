"""emorecog.models: the model configuration, the builder and the model classes.

model_config.ModelConfig (frozen hyper-parameters, ablations), builder.build_model (config -> built,
compiled Keras model), emotion_model_base.EmotionModelBase (the abstract base: inputs, classifier, loss, Keras
steps), recurrent_model_base.RecurrentModelBase (abstract: the recurrent step both recurrent models share),
glimpse_model.GlimpseModel (skim, searching temporal attention, stop), full_sequence_model.FullSequenceModel
(the "without temporal attention" baseline), skim_only_model.SkimOnlyModel (the classifier on the skim alone),
reinforce (rewards and policy-gradient losses). Import the modules directly; `model_config` does not import
TensorFlow.
"""
