"""Keras model templates (``keras_mlp``, ``keras_cnn``) with the scikit-learn API.

Importing this package (or :mod:`.catalog`, :mod:`.estimators`) never imports
TensorFlow: it is imported inside ``fit``/``predict``, on the worker that trains.

- :mod:`.catalog` — the catalog entries and their JSON Schemas;
- :mod:`.estimators` — ``KerasMLPClassifier`` & co. (fit / predict / predict_proba / classes_);
- :mod:`.runtime` — importing and configuring TensorFlow on a worker (threads, GPU memory growth);
- :mod:`.flavor` — the registry's ``keras`` flavor (a Pipeline whose last step is a Keras model).
"""
