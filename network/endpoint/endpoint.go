package endpoint

// Endpoint is a member's place on a network: what its interface gets (package
// network/bridge, the switch, names it too).
type Endpoint struct {
	Network string `json:"network"`
	IP      string `json:"ip"`
	Prefix  int    `json:"prefix"`
	MAC     string `json:"mac"`
	Gateway string `json:"gateway"`
	// Interface is the member's interface on it (eth1…), set by the caller.
	Interface string `json:"interface,omitempty"`
}
