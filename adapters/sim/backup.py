"""The sim's backup system: jobs, restore points and restores that roll data back."""

from __future__ import annotations

from datetime import datetime

from adapters.contracts import BackupJob, Job, RestorePoint
from adapters.errors import NotFound
from adapters.sim._core import SimCore
from adapters.sim.faults import FaultRule

__all__ = ["SimBackup"]


class SimBackup:
    """:class:`~adapters.contracts.BackupContract` over a :class:`SimCore`."""

    def __init__(self, core: SimCore) -> None:
        self._core = core

    def list_jobs(self) -> list[BackupJob]:
        """Every backup job with its last result."""

        def act(_: list[FaultRule], now: datetime) -> list[BackupJob]:
            return [
                BackupJob(
                    job_id=b.job_id,
                    name=b.name,
                    protects=(b.object_name,),
                    last_result=b.last_result,
                    last_run=b.last_run,
                )
                for b in self._core.backups.values()
            ]

        return self._core.call("backup", "list_jobs", target=None, args={}, act=act)

    def restore_points(self, object_name: str) -> list[RestorePoint]:
        """Restore points of one protected object, newest first (as every backup client)."""

        def act(_: list[FaultRule], now: datetime) -> list[RestorePoint]:
            points = [p for p in self._core.points.values() if p.object_name == object_name]
            if not points and object_name not in self._core.data_as_of:
                raise NotFound(
                    f"no protected object {object_name!r}",
                    integration="sim-backup",
                    call="restore_points",
                )
            return [
                RestorePoint(
                    point_id=p.point_id,
                    object_name=p.object_name,
                    created_at=p.created_at,
                    tested_at=p.tested_at,
                )
                for p in sorted(points, key=lambda p: p.created_at, reverse=True)
            ]

        return self._core.call(
            "backup",
            "restore_points",
            target=object_name,
            args={"object_name": object_name},
            act=act,
        )

    def start_restore(self, point_id: str, *, idempotency_key: str) -> Job:
        """Restore the object to the point; its data goes back to the point's time."""
        core = self._core

        def act(fired: list[FaultRule], now: datetime) -> Job:
            point = core.points.get(point_id)
            if point is None:
                raise NotFound(
                    f"no restore point {point_id!r}", integration="sim-backup", call="start_restore"
                )
            job = core.new_job("backup", "restore", point.object_name, idempotency_key, now)
            fail = any(r.kind == "partial_failure" for r in fired)

            def start(at: datetime) -> None:
                job.state = "running"
                job.started_at = at
                core.schedule(at + core.timings.seconds("restore"), done)

            def done(at: datetime) -> None:
                if fail:
                    core.finish(job, at, ok=False, detail="restore failed: target volume busy")
                    return
                core.data_as_of[point.object_name] = point.created_at
                core.log_event(at, "restore_completed", object=point.object_name, point=point_id)
                core.finish(job, at, ok=True, detail=f"restored to {point.created_at.isoformat()}")

            core.schedule(now + core.timings.seconds("queue"), start)
            return core.job_view(job)

        return core.call(
            "backup",
            "start_restore",
            target=point_id,
            args={"point_id": point_id},
            key=idempotency_key,
            act=act,
        )

    def restore_status(self, job_id: str) -> Job:
        """A restore job's current state."""

        def act(_: list[FaultRule], now: datetime) -> Job:
            job = self._core.jobs.get(job_id)
            if job is None or job.category != "backup":
                raise NotFound(
                    f"no restore job {job_id!r}", integration="sim-backup", call="restore_status"
                )
            return self._core.job_view(job)

        return self._core.call(
            "backup", "restore_status", target=None, args={"job_id": job_id}, act=act
        )
