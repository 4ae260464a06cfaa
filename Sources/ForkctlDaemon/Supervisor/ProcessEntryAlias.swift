import ForkctlWire
// Temporary until the codec's rename lands.
typealias ProcessEntry = ForkctlWire.ProcessInfo
