// Which executable the daemon starts templates from: the order of the places it looks in,
// and the start-up errors for a FORKCTL_TEMPLATE_IMAGE that names nothing usable.
import Testing

@testable import ForkctlDaemon

@Suite struct TemplateImageTests {
  /// `find` for forkctl at /opt/fk/bin/forkctl, where only `present` are executable files.
  func found(_ present: Set<String>, configured: String? = nil) throws(DaemonStartError) -> String {
    try TemplateImage.find(executable: "/opt/fk/bin/forkctl", configured: configured, isExecutable: present.contains)
      .path
  }

  @Test func theConfiguredImageComesFirst() throws {
    let all: Set = ["/img", "/opt/fk/bin/forkctl-template", "/opt/fk/libexec/forkctl/forkctl-template"]
    #expect(try found(all, configured: "/img") == "/img")
  }

  @Test func anEmptyVariableCountsAsUnset() throws {
    #expect(try found(["/opt/fk/bin/forkctl-template"], configured: "") == "/opt/fk/bin/forkctl-template")
  }

  @Test func theImageBesideForkctlComesBeforeLibexec() throws {
    let both: Set = ["/opt/fk/bin/forkctl-template", "/opt/fk/libexec/forkctl/forkctl-template"]
    #expect(try found(both) == "/opt/fk/bin/forkctl-template")
  }

  @Test func theInstalledImageIsFoundInLibexec() throws {
    #expect(try found(["/opt/fk/libexec/forkctl/forkctl-template"]) == "/opt/fk/libexec/forkctl/forkctl-template")
  }

  @Test func withoutAnImageForkctlRunsTemplatesItself() throws {
    #expect(try found([]) == "/opt/fk/bin/forkctl")
  }

  @Test func aForkctlInTheRootDirectoryLooksThereAndInLibexec() throws {
    let inRoot = try TemplateImage.find(
      executable: "/forkctl", configured: nil, isExecutable: { $0 == "/forkctl-template" })
    #expect(inRoot.path == "/forkctl-template")
    let inLibexec = try TemplateImage.find(
      executable: "/forkctl", configured: nil, isExecutable: { $0 == "/libexec/forkctl/forkctl-template" })
    #expect(inLibexec.path == "/libexec/forkctl/forkctl-template")
  }

  @Test func theDefaultTemplateRunsTheDaemonItselfAndExecTemplatesTheImage() throws {
    // Forking from the static forkctl is cheaper, and only templates made by exec load code.
    let image = try TemplateImage.find(
      executable: "/opt/fk/bin/forkctl", configured: "/img", isExecutable: { $0 == "/img" })
    #expect(image.path(for: .defaultTemplate) == "/opt/fk/bin/forkctl")
    #expect(image.path(for: .template) == "/img")
  }

  @Test func aConfiguredImageThatIsMissingStopsTheStart() {
    #expect {
      _ = try found(["/opt/fk/bin/forkctl-template"], configured: "/missing")
    } throws: { error in
      (error as? DaemonStartError)?.message
        == "cannot find the template image: FORKCTL_TEMPLATE_IMAGE names '/missing', which is not an executable file"
    }
  }

  @Test func aRelativeConfiguredImageStopsTheStart() {
    // The daemon changes to / before it starts a template, so a relative path would name
    // another file by then.
    #expect {
      _ = try found(["img"], configured: "img")
    } throws: { error in
      (error as? DaemonStartError)?.message
        == "cannot find the template image: FORKCTL_TEMPLATE_IMAGE must be an absolute path, not 'img'"
    }
  }
}
