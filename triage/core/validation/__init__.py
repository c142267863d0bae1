"""Shifted validation families: synthetic studies drawn by a different hand than training's.

A model trained on one generator's drawings learns that generator. To measure how it behaves on
studies it was not trained on, these families draw head CTs and chest radiographs with their
own code, their own anatomy and their own parameter ranges, written without looking at the
training generator. They are for measuring only: never train on them, never choose a threshold
or a calibration on them (that would make them in-distribution and the measurement meaningless).

``families.FAMILIES[task][name].draw(rng, positive=...)`` returns a ``series.Drawn``: one complete
series as a modality would send it (pydicom datasets with real-looking headers, in random
order), whether it holds the finding, what the finding is, what was drawn, and the finding's
mask on the series' grid. ``evaluate.draw_set`` draws reproducible balanced sets. Each module's
docstring lists how it draws and its parameter ranges; the model cards quote them.

No Django, no torch, nothing else of the project: numpy and pydicom only.
"""
