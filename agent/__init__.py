"""Whether, when and how to act: policy, consent, execution, audit and the agent loop.

The faces are the sub-packages, one per step of the loop (``agent.chat``, ``agent.signals``,
``agent.policy``, ``agent.approval``, ``agent.execution``, ``agent.audit``, ``agent.patching``,
``agent.eval``) and the facade :mod:`agent.service`; this root re-exports nothing, so importing
one step never loads the others.
"""

__all__: list[str] = []
