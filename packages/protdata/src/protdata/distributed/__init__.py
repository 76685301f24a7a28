"""Multi-process jobs: where a process sits (:mod:`.launch`: torchrun / deepspeed / srun / mpirun environments,
torch-free), the process group with its start-up handshake (:mod:`.group`), small collectives that also work in
one process (:mod:`.collectives`) and the shared-directory check (:mod:`.shared_directory`)."""

from protdata._lazy import lazy_exports

__all__ = [
    "LaunchEnv",
    "LaunchError",
    "all_reduce_max",
    "all_reduce_sum",
    "average_buffers",
    "barrier",
    "broadcast_object",
    "check_shared_directory",
    "cuda_index",
    "destroy_process_group",
    "detect_launch",
    "env_rank",
    "export_launch_environment",
    "first_host",
    "gather_objects",
    "init_process_group",
    "launched_by_launcher",
    "main_rank_first",
    "process_device",
    "rendezvous",
    "report_startup_failure",
    "slurm_port",
    "startup_handshake",
    "tasks_on_first_node",
    "teardown_process_group",
]

_EXPORTS = {
    **dict.fromkeys(
        [
            "LaunchEnv",
            "LaunchError",
            "cuda_index",
            "detect_launch",
            "env_rank",
            "first_host",
            "launched_by_launcher",
            "slurm_port",
            "tasks_on_first_node",
        ],
        "protdata.distributed.launch",
    ),
    **dict.fromkeys(
        [
            "destroy_process_group",
            "export_launch_environment",
            "init_process_group",
            "process_device",
            "rendezvous",
            "report_startup_failure",
            "startup_handshake",
            "teardown_process_group",
        ],
        "protdata.distributed.group",
    ),
    **dict.fromkeys(
        [
            "all_reduce_max",
            "all_reduce_sum",
            "average_buffers",
            "barrier",
            "broadcast_object",
            "gather_objects",
            "main_rank_first",
        ],
        "protdata.distributed.collectives",
    ),
    "check_shared_directory": "protdata.distributed.shared_directory",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
