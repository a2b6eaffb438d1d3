"""The broadcast domain: broadcasts, approval, audience, queue, limiter, sender, schedules."""
