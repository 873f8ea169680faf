// Package container owns containers: their records under
// $DATA/containers/<id>/ (container.json, the writable layer, generated
// /etc files), IDs and names, and the create-and-start flow that turns an
// image plus run options into a runtime.Spec.
package container
