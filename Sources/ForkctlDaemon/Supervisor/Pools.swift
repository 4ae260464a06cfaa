// Pools (issue 13): worker pools regulated by what their workers report, and ready pools.
import ForkctlWire

extension Supervisor {
  mutating func pool(_ request: PoolRequest, _ client: ClientID) {
    switch request {
    case .create:
      effects.reply(client, .failure(.badRequest, "pools are not built yet"))
    case .status(let name) where name.isEmpty:
      effects.reply(client, .pools([]))
    case .status(let name), .resize(let name, _), .reload(let name, _), .stop(let name, _), .events(let name):
      effects.reply(client, .failure(.unknownPool, "no pool \(String(decoding: name, as: UTF8.self))"))
    }
  }
}
