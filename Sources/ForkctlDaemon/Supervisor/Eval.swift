// eval (issue 14): code run in a language host's template, answered as a load is, by the
// object's `loaded` or `loadRefused` report, in the order asked. A native template refuses it
// itself (ForkctlTemplate), so the refusal names what it is.
import ForkctlSys
import ForkctlWire

extension Supervisor {
  mutating func eval(_ ref: [UInt8], _ spec: EvalSpec, _ fds: [FileDescriptor], _ client: ClientID) {
    guard let id = lookup(ref, client), requireUnrun(id, "eval in", client) else { return closeAll(fds) }
    registry.update(id) { $0.loads.append(PendingLoad(client: client, path: [], isEval: true)) }
    recordEval(id)
    effects.send(id, .eval(spec), fds: fds)
    // Its ready members would lack what the code did: ended now, refilled once it is answered.
    emptyReadyPools(of: id)
  }
}
