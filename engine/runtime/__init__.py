"""The persisted BPMN runtime over SpiffWorkflow: parse, deploy, run, persist, fire timers."""
