// What a client's programs are held to beyond what the daemon's own would have: the
// client's no_new_privs, and capability sets no larger than the client's (issue 10, item 4).
// The event loop reads the client's at admission; spawn and run put it into the process
// attributes the program gets before exec, and refuse a request that carries none.
import ForkctlSys
import ForkctlWire

public struct Confinement: Equatable, Sendable {
  /// The client has no_new_privs and the daemon has not.
  public var noNewPrivileges = false
  /// The client's capability sets, where the daemon's exceed them.
  public var capabilities: ProcessAttributes.CapabilityMasks?

  public init(noNewPrivileges: Bool = false, capabilities: ProcessAttributes.CapabilityMasks? = nil) {
    self.noNewPrivileges = noNewPrivileges
    self.capabilities = capabilities
  }

  /// What `peer` is held to that `daemon` is not.
  public init(peer: ProcessRestrictions, daemon: ProcessRestrictions) {
    noNewPrivileges = peer.noNewPrivileges && !daemon.noNewPrivileges
    if !daemon.capabilities.isWithin(peer.capabilities) {
      let p = peer.capabilities
      let d = daemon.capabilities
      capabilities = ProcessAttributes.CapabilityMasks(
        bounding: p.bounding & d.bounding, permitted: p.permitted & d.permitted, effective: p.effective & d.effective,
        inheritable: p.inheritable & d.inheritable, ambient: p.ambient & d.ambient)
    }
  }

  /// Nothing beyond the daemon's own.
  public var isEmpty: Bool { !noNewPrivileges && capabilities == nil }

  /// `attributes` with this confinement added.
  func applied(to attributes: ProcessAttributes) -> ProcessAttributes {
    var a = attributes
    if noNewPrivileges { a.flags.insert(.noNewPrivileges) }
    if let capabilities {
      if a.flags.contains(.dropCapabilities) {
        // Both bounds hold: the narrower of the two.
        a.capabilities = ProcessAttributes.CapabilityMasks(
          bounding: a.capabilities.bounding & capabilities.bounding,
          permitted: a.capabilities.permitted & capabilities.permitted,
          effective: a.capabilities.effective & capabilities.effective,
          inheritable: a.capabilities.inheritable & capabilities.inheritable,
          ambient: a.capabilities.ambient & capabilities.ambient)
      } else {
        a.capabilities = capabilities
      }
      a.flags.insert(.dropCapabilities)
    }
    return a
  }
}

extension Supervisor {
  /// The attributes a program started for `client` gets: its own with the client's
  /// confinement added; nil after refusing when the client is confined and sent none (an
  /// older client): the daemon would have nothing to put the confinement in.
  mutating func confined(_ attributes: ProcessAttributes?, for client: ClientID, _ action: String)
    -> ProcessAttributes??
  {
    guard let confinement = clientConfinement[client], !confinement.isEmpty else { return .some(attributes) }
    guard let attributes else {
      effects.reply(
        client,
        .failure(
          .permissionDenied,
          "cannot \(action): the client has no_new_privs or fewer capabilities than the daemon, and sent no "
            + "process attributes to carry them (forkctl-protocol(7), PROCESS ATTRIBUTES)"))
      return nil
    }
    return .some(confinement.applied(to: attributes))
  }
}
