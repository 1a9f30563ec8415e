"""How the episode flow runs its steps: on the run's render slots, and in place when the store holds them.

A re-render after an edit reuses almost every step. Orchestrating each reuse as a Prefect task run (created,
started and completed through the API) cost far more than the lookup itself: a re-render of the demo that
reuses everything took 2.8-3.3 CPU-s of the machine (this process and the Prefect server) with its 30 lines
and shots as task runs, 1.6-1.8 with them read in place. So a step whose output the store already holds,
intact, is called here, in the flow: its usage record (cached) still goes in the manifest and its result is
the same object; the Prefect UI shows task runs for the steps that ran. (A stored output found damaged when
it is read is made again here, in the flow thread, as the store always does.) Two steps that take milliseconds
and run in the flow's own order anyway, the storyboard's timing and the subtitle files, are always called in
place: a task run costs ~0.03 CPU-s of client and server, more than either.
"""

import contextlib

from prefect.futures import PrefectFuture

from microdrama.run import Run


def submit_or_reuse(step, held: bool, *args):
    """The task's future; or, when the store holds the step's output (`held`), its result, read in place."""
    return step.fn(*args) if held else step.submit(*args)


def resolve(value):
    """A step's result, whether it was submitted (a future) or reused in place (the result itself)."""
    return value.result() if isinstance(value, PrefectFuture) else value


@contextlib.contextmanager
def gpu_slot(run: Run):
    """Bound renders here and, across workers, by the run's global concurrency limit (per GPU or API account)."""
    with contextlib.ExitStack() as stack:
        stack.enter_context(run.render_slots)
        if name := run.concurrency_name():
            from prefect.concurrency.sync import concurrency

            stack.enter_context(concurrency(name, occupy=1, strict=False))
        yield
