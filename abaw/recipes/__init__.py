"""Recipes on top of the pipeline: ``abaw demo`` and ``abaw experiment progressive``.

* :mod:`abaw.recipes.settings`: what the recipes train (the demo's recipe, its
  temporal stage) and the timing model that estimates the demo's time;
* :mod:`abaw.recipes.state`: what a recipe's steps share while it runs;
* :mod:`abaw.recipes.data`: the generated dataset, reused when generated alike;
* :mod:`abaw.recipes.demo`: the demo's steps, top to bottom;
* :mod:`abaw.recipes.temporal_stage`: the demo's temporal stage;
* :mod:`abaw.recipes.progressive`: the paper's chain over several training seeds;
* :mod:`abaw.recipes.measures`: what an experiment measures of a stage, and the spread over seeds.
"""
