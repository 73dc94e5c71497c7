"""Training through LightningCLI, stage by stage (imported only by ``zoo fit/validate/test/predict`` and code that
trains, so ``zoo list`` and ``zoo info`` start without importing Lightning):

- :mod:`zoo.training.arguments`: the command line before and while it is parsed (registry names to class paths,
  logger folders, parse errors in one line);
- :mod:`zoo.training.policy`: what every run gets and what it is refused (callbacks attached by interface,
  strategy and precision choices, the default budget, the batch-kind and checkpoint checks);
- :mod:`zoo.training.run_output`: where a run writes (run folders, the saved config, loggers, console lines);
- :mod:`zoo.training.cli`: ``ZooCLI``, which wires the three into LightningCLI, and ``run_cli``.
"""
