import ForkctlClient

/// What forkctl's caller left it, recorded before forkctl opens a descriptor of its own.
enum Caller {
  /// The descriptors the caller had open; 0, 1 and 2 are /dev/null from here on where they
  /// were closed (`OpenDescriptors.recordProtectingStandard`). main.swift takes it first.
  static let descriptors = OpenDescriptors.recordProtectingStandard()
}
