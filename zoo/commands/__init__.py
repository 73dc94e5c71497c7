"""The zoo's commands besides training, one module each: what ``zoo COMMAND`` runs is ``command_<name>`` of
``zoo/commands/<name>.py`` (``zoo.cli.COMMANDS`` imports each only when it runs).

``listing`` (``zoo list``), ``info``, ``sample``, ``encode``, ``score``, ``reconstruct``, ``translate``,
``prepare``, ``export``, ``new_plugin`` (``zoo new-plugin``); ``demo`` (``make demo``) and ``docgen``
(``python -m zoo.commands.docgen``) run with ``python -m``. What several share: :mod:`zoo.commands.common`.
Training (``zoo fit/validate/test/predict``) is :mod:`zoo.training`.
"""
