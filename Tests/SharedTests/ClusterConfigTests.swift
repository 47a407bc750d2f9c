import Core
import Testing
import Tiling

@testable import Segmentation
@testable import Shared

@Suite struct ClusterConfigTests {
    @Test func theCommittedExampleParses() throws {
        let config = try ClusterConfig(contentsOf: #filePath.replacingOccurrences(of: "Tests/SharedTests/ClusterConfigTests.swift", with: "cluster.conf"))
        #expect(config.members.map(\.name) == ["b0-1um", "b0-2um"])
        #expect(config.members.map(\.pixelSize) == [1, 2] && config.members.allSatisfy { $0.architecture == "effunet-b0" })
        #expect(config.memberWeights == [100, 100])
        #expect(config.settings.tileSize == 512 && config.settings.margin == 64 && config.settings.window == .constantCrop)
        #expect(config.settings.maps == .float16 && config.settings.flips == FlipSet.none)
        #expect(config.metricsEndpoint == "tcp://127.0.0.1:5572")
        #expect(config.security == nil)
    }

    @Test func tissueAndStainSettings() throws {
        let config = try ClusterConfig(
            parsing: """
                [inference]
                tissue = otsu
                tissue_saturation = 0.1
                [member a]
                architecture = constant
                stain = macenko
                stain_reference = ref.json
                [member b]
                architecture = constant
                """, source: "t.conf")
        #expect(config.settings.tissue.method == .otsu && config.settings.tissue.saturation == 0.1)
        #expect(config.members[0].stain == .macenko && config.members[0].stainReference == "ref.json" && config.members[1].stain == nil)
        #expect(try ClusterConfig(parsing: "[member a]\narchitecture = constant\n", source: "t").settings.tissue.method == .saturation)
        #expect(throws: TesseraError.self) { try ClusterConfig(parsing: "[inference]\ntissue = maybe\n[member a]\narchitecture = constant\n", source: "t") }
        #expect(throws: TesseraError.self) { try ClusterConfig(parsing: "[member a]\narchitecture = constant\nstain = vahadane\n", source: "t") }
    }

    @Test func pixelSizesPyramidsAndOrganThresholds() throws {
        let config = try ClusterConfig(
            parsing: """
                [inference]
                threshold = 0.5
                pyramid = off
                stain = reinhard
                stain_reference = ref.json
                [organ kidney]
                threshold = 0.4
                [organ Spleen]
                threshold = 0.3
                [member a]
                architecture = constant
                pixel_size = 1.0
                [member b]
                architecture = constant
                """, source: "t.conf")
        #expect(config.members.map(\.pixelSize) == [1.0, nil] && !config.settings.useLevels)
        #expect(config.settings.slideStain == .reinhard && config.settings.slideStainReference == "ref.json")
        #expect(try config.settings.forOrgan("Kidney").threshold == 0.4)
        #expect(try config.settings.forOrgan("spleen").threshold == 0.3)
        #expect(try config.settings.forOrgan(nil).threshold == 0.5)
        #expect { try config.settings.forOrgan("kidny") } throws: {
            ($0 as? TesseraError).map { $0.code == .notFound && $0.reason.contains("kidney, spleen") } == true
        }
        // Without organ thresholds an organ changes nothing.
        #expect(try SegmentationSettings().forOrgan("lung").threshold == 0.5)
        for bad in [
            "[organ kidney]\nthreshold = 2\n", "[organ kidney]\ncutoff = 0.2\n", "[organ kidney]\nthreshold = 0.2\n[organ kidney]\nthreshold = 0.3\n",
            "[inference]\npyramid = maybe\n", "[inference]\nstain = vahadane\n", "[member a]\narchitecture = constant\npixel_size = 0\n",
        ] {
            #expect(throws: TesseraError.self) { try ClusterConfig(parsing: bad + "[member z]\narchitecture = constant\n", source: "t") }
        }
    }

    @Test func z85KeysWithHashesAreNotComments() throws {
        let key = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
        let other = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID"
        let config = try ClusterConfig(
            parsing: """
                [security]
                coordinator_public = \(key) # the coordinator's
                worker_public = #abcdefghij#abcdefghij#abcdefghij#abcdef
                client_public = \(other)
                [member a]
                architecture = constant
                """, source: "t.conf")
        #expect(config.security?.coordinatorPublic == key)
        #expect(config.security?.workerPublic == "#abcdefghij#abcdefghij#abcdefghij#abcdef")
    }

    /// [http] is off unless listed; a token is kept, and needed beside [security].
    @Test func theHTTPSection() throws {
        #expect(try ClusterConfig(parsing: "[member a]\narchitecture = constant", source: "t.conf").http == nil)
        let open = try ClusterConfig(parsing: "[http]\nlisten = 127.0.0.1:0\n[member a]\narchitecture = constant", source: "t.conf")
        #expect(open.http == ClusterConfig.HTTP(host: "127.0.0.1", port: 0, token: nil))
        let wide = try ClusterConfig(parsing: "[http]\nlisten = [::]:9090\ntoken = 0123456789abcdef0\n[member a]\narchitecture = constant", source: "t.conf")
        #expect(wide.http == ClusterConfig.HTTP(host: "::", port: 9090, token: "0123456789abcdef0"))
        let key = String(repeating: "a", count: 40)
        let secured = "[security]\ncoordinator_public = \(key)\nworker_public = \(key)\nclient_public = \(key)\n[member a]\narchitecture = constant\n"
        #expect(throws: TesseraError.self) { try ClusterConfig(parsing: secured + "[http]\nlisten = 127.0.0.1:8080\n", source: "t.conf") }
        #expect(try ClusterConfig(parsing: secured + "[http]\nlisten = 127.0.0.1:8080\ntoken = 0123456789abcdef0\n", source: "t.conf").http?.token != nil)
    }

    @Test(arguments: [
        ("[inference]\ntile = 7\n[member a]\narchitecture = constant", "line 2: tile must be a whole number from 16 to 4096"),
        ("[member a]\narchitecture = constant\n[member a]\narchitecture = stain", "line 3: member \"a\" is defined twice"),
        ("[coordinator]\nworkers = 127.0.0.1:5\n[member a]\narchitecture = constant", "line 2: workers must be a ZeroMQ endpoint"),
        ("[nonsense]\n", "line 1: unknown section [nonsense]"),
        ("[coordinator]\nslide_readers = many\n[member a]\narchitecture = constant", "line 2: slide_readers must be auto or a whole number from 1 to 16"),
        ("tile = 5\n", "line 1: tile is outside any section"),
        ("[coordinator]\nkeep_results = 0\n[member a]\narchitecture = constant", "line 2: keep_results must be a number from 1"),
        ("[inference]\nwindow = hann\n[member a]\narchitecture = constant", "line 2: window must be constant, linear or gaussian"),
        ("[inference]\ntile = 64\nmargin = 40\n[member a]\narchitecture = constant", "margin 40 leaves no centre"),
        ("[member a]\nweight = 2\n", "line 1: member \"a\" has no architecture"),
        ("[coordinator]\n", "the ensemble is empty"),
        ("[security]\ncoordinator_public = short\n", "line 2: coordinator_public must be a 40-character Z85 CURVE key"),
        ("[member a]\narchitecture = constant\nweight = 20", "line 3: weight must be a number from 0.01 to 10.24"),
        ("[heartbeat]\ninterval\n", "line 2: expected key = value"),
        ("[http]\nlisten = 8080\n[member a]\narchitecture = constant", "line 2: listen must be HOST:PORT"),
        ("[http]\nlisten = 127.0.0.1:8080\ntoken = short\n[member a]\narchitecture = constant", "line 3: token must be at least 16"),
        ("[http]\nlisten = 0.0.0.0:8080\n[member a]\narchitecture = constant", "[http] listens on 0.0.0.0, beyond this machine: set a token"),
        ("[http]\ntoken = 0123456789abcdef0\n[member a]\narchitecture = constant", "[http] sets a token but no listen address"),
    ])
    func errorsNameTheLine(text: String, message: String) {
        #expect {
            try ClusterConfig(parsing: text, source: "bad.conf")
        } throws: { error in
            "\(error)".hasPrefix("bad.conf: ") && "\(error)".contains(message)
        }
    }

    @Test func slideReadersAreCountedOrLeftToTheMachine() throws {
        let member = "[member a]\narchitecture = constant"
        #expect(try ClusterConfig(parsing: "[coordinator]\nslide_readers = 3\n" + member, source: "c.conf").slideReaders == 3)
        #expect(try ClusterConfig(parsing: "[coordinator]\nslide_readers = auto\n" + member, source: "c.conf").slideReaders == nil)
        #expect((1...4).contains(ClusterConfig.defaultSlideReaders))
    }

    @Test func resultsAreKeptAWeekUnlessToldOtherwise() throws {
        let member = "[member a]\narchitecture = constant"
        #expect(try ClusterConfig(parsing: member, source: "c.conf").keepResults == 604_800)
        #expect(try ClusterConfig(parsing: "[coordinator]\nkeep_results = 90\n" + member, source: "c.conf").keepResults == 90)
    }

    @Test func unknownMembersAreNamedWithTheKnownOnes() throws {
        let config = try ClusterConfig(parsing: "[member a]\narchitecture = constant\n[member b]\narchitecture = stain", source: "c.conf")
        #expect { try config.member(named: "z") } throws: {
            ($0 as? TesseraError).map { $0.code == .notFound && $0.reason.contains("no member \"z\" (members: a, b)") } == true
        }
    }
}
