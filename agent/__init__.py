"""Whether, when and how to act: policy, consent, execution, audit and the agent loop."""
