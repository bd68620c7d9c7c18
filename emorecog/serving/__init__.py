"""emorecog.serving: the serving contract, SavedModel export for TF Serving, and requests for one trial.

signatures (signature and output names, the input value checks), saved_model (export, the op check, TF
Serving's version folders, a SavedModel client), trial_request (one trial -> a prediction or a TF Serving REST
body). Nothing here is needed to *use* an exported model: `tf.saved_model.load` runs it without emorecog.
"""
