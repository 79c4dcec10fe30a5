"""The run folder (layout in docs/CONTRACTS.md), from its training to its report, in layers that
import downwards only:

- :mod:`~dsvae.run.files`: the one list of the folder's files, each with its writer and reader;
- :mod:`~dsvae.run.checkpoint`: RUN/checkpoints/last, written and read whole;
- :mod:`~dsvae.run.records`: train.json, env.json, log.csv, metrics.json and metrics.md;
- :mod:`~dsvae.run.data`: the run's data, reopened and checked, relocated; the model/data fit check;
- :mod:`~dsvae.run.weights`: the trained model, read safely while a training swaps checkpoints;
- :mod:`~dsvae.run.trained`: :class:`TrainedRun`, how eval, viz, report and compare read a run;
- :mod:`~dsvae.run.request`: the options asked for, merged with a recipe's or a resumed run's record;
- :mod:`~dsvae.run.training`: :class:`TrainingRun`, the run being trained (lock, records, resume).

The names below are the package's public ones; its modules never import this one."""

from .checkpoint import (
    CheckpointError,
    continue_after_failed_write,
    describe_last_checkpoint,
    last_checkpoint_dir,
    last_good_checkpoint,
    load_checkpoint,
    rng_state,
    save_checkpoint,
)
from .data import (
    READ_WITH_ITS_DATA,
    check_model_fits,
    check_run_data,
    data_location,
    open_run_dataset,
    relocate_data,
    run_data_checksums,
    run_data_spec,
)
from .files import (
    CHECKPOINT_FILES,
    FILES,
    LOG_COLUMNS,
    RUN_OUTPUTS,
    RUN_SETUP,
    RunFile,
    clear_run_outputs,
    is_failed_start,
)
from .records import (
    DATA_LOCATION,
    MARKDOWN_STAMP,
    RUN_RECORD_EXTRA,
    environment,
    keep_earlier_metrics,
    read_log,
    read_metrics,
    read_metrics_markdown,
    read_train_options,
    train_config_of,
    write_metrics,
)
from .request import MAY_CHANGE_ON_RESUME, TrainRequest, new_run_dir, resumed_config
from .trained import TrainedRun
from .training import RunBusyError, TrainingRun, lock_run_dir
from .weights import READ_PAUSE_S, READ_TRIES, load_model, model_dir, model_provenance

__all__ = [
    "CHECKPOINT_FILES",
    "DATA_LOCATION",
    "FILES",
    "LOG_COLUMNS",
    "MARKDOWN_STAMP",
    "MAY_CHANGE_ON_RESUME",
    "READ_PAUSE_S",
    "READ_TRIES",
    "READ_WITH_ITS_DATA",
    "RUN_OUTPUTS",
    "RUN_RECORD_EXTRA",
    "RUN_SETUP",
    "CheckpointError",
    "RunBusyError",
    "RunFile",
    "TrainRequest",
    "TrainedRun",
    "TrainingRun",
    "check_model_fits",
    "check_run_data",
    "clear_run_outputs",
    "continue_after_failed_write",
    "data_location",
    "describe_last_checkpoint",
    "environment",
    "is_failed_start",
    "keep_earlier_metrics",
    "last_checkpoint_dir",
    "last_good_checkpoint",
    "load_checkpoint",
    "rng_state",
    "load_model",
    "lock_run_dir",
    "model_dir",
    "model_provenance",
    "new_run_dir",
    "open_run_dataset",
    "read_log",
    "read_metrics",
    "read_metrics_markdown",
    "read_train_options",
    "relocate_data",
    "resumed_config",
    "run_data_checksums",
    "run_data_spec",
    "save_checkpoint",
    "train_config_of",
    "write_metrics",
]
