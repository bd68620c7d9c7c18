"""emorecog.serving: SavedModel export for TF Serving, version folders, REST bodies, a SavedModel client.

Nothing here is needed to *use* an exported model: `tf.saved_model.load` runs it without emorecog.
"""
