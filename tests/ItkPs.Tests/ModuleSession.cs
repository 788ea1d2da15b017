using System.Globalization;
using System.Management.Automation;
using System.Management.Automation.Host;
using System.Management.Automation.Runspaces;
using System.Security;

namespace ItkPs.Tests;

/// <summary>What one script run produced: pipeline output, errors, warnings, what it wrote to the host, and whether an error ended it.</summary>
public sealed record RunResult(List<PSObject> Output, List<ErrorRecord> Errors, List<WarningRecord> Warnings, List<string> HostLines, bool Terminated = false);

/// <summary>
/// PowerShell in-process with the module imported from this test's output folder, its help
/// generated there first (as build.ps1 does), and a host that records what the cmdlets write
/// to it (What-if lines go to the host, not to a stream) and answers prompts as told.
/// </summary>
public sealed class ModuleSession : IDisposable
{
    public ModuleSession()
    {
        string dir = AppContext.BaseDirectory;
        _ = HelpWritten.Value;
        var iss = InitialSessionState.CreateDefault2();
        iss.ImportPSModule(Path.Combine(dir, "ItkPs.psd1"));
        Host = new RecordingHost();
        Runspace = RunspaceFactory.CreateRunspace(Host, iss);
        Runspace.Open();
    }

    /// <summary>
    /// The help file is written once per test run: the test classes open their sessions in
    /// parallel, and one rewriting the file while another's Get-Help reads it would fail both.
    /// </summary>
    private static readonly Lazy<bool> HelpWritten = new(() => { GenerateHelp(AppContext.BaseDirectory); return true; });

    private static void GenerateHelp(string dir)
    {
        var iss = InitialSessionState.CreateDefault2();
        using var ps = PowerShell.Create(iss);
        ps.AddCommand(Path.Combine(dir, "Write-ItkHelp.ps1"))
            .AddParameter("ModulePath", Path.Combine(dir, "ItkPs.psd1"))
            .AddParameter("OutFile", Path.Combine(dir, "en-US", "ItkPs.dll-Help.xml"));
        ps.Invoke();
        if (ps.HadErrors) throw new InvalidOperationException("Write-ItkHelp.ps1: " + string.Join("; ", ps.Streams.Error));
    }

    public Runspace Runspace { get; }
    public RecordingHost Host { get; }

    public RunResult Run(string script, params object[] args)
    {
        Host.Lines.Clear();
        using var ps = PowerShell.Create(Runspace);
        // A scope of its own: $WhatIfPreference and the like set by one run do not leak into the next.
        ps.AddScript(script, useLocalScope: true);
        foreach (var a in args) ps.AddArgument(a);
        var output = new List<PSObject>();
        try { output = ps.Invoke().ToList(); }
        catch (RuntimeException e)
        {
            // A terminating error: reported with the others, and the run says it ended there.
            return new RunResult(output, [.. ps.Streams.Error, e.ErrorRecord], ps.Streams.Warning.ToList(), Host.Lines.ToList(), Terminated: true);
        }
        return new RunResult(output, ps.Streams.Error.ToList(), ps.Streams.Warning.ToList(), Host.Lines.ToList());
    }

    public void Dispose() => Runspace.Dispose();
}

/// <summary>A host that keeps every line written to it and answers each prompt with <see cref="Answer"/>.</summary>
public sealed class RecordingHost : PSHost
{
    private readonly RecordingUi _ui;
    public RecordingHost() { _ui = new RecordingUi(this); }
    public List<string> Lines { get; } = new();
    /// <summary>The choice a prompt gets: 0 is Yes in ShouldProcess's prompt, 2 is No.</summary>
    public int Answer { get; set; } = 2;
    public override PSHostUserInterface UI => _ui;
    public override string Name => "ItkPs.Tests";
    public override Version Version => new(1, 0);
    public override Guid InstanceId { get; } = Guid.NewGuid();
    public override CultureInfo CurrentCulture => CultureInfo.InvariantCulture;
    public override CultureInfo CurrentUICulture => CultureInfo.InvariantCulture;
    public override void SetShouldExit(int exitCode) { }
    public override void EnterNestedPrompt() => throw new NotSupportedException();
    public override void ExitNestedPrompt() => throw new NotSupportedException();
    public override void NotifyBeginApplication() { }
    public override void NotifyEndApplication() { }

    private sealed class RecordingUi(RecordingHost host) : PSHostUserInterface
    {
        private string _partial = "";
        public override PSHostRawUserInterface? RawUI => null;
        public override void Write(string value) => _partial += value;
        public override void Write(ConsoleColor foregroundColor, ConsoleColor backgroundColor, string value) => _partial += value;
        public override void WriteLine(string value) { host.Lines.Add(_partial + value); _partial = ""; }
        public override void WriteErrorLine(string value) { }
        public override void WriteDebugLine(string message) { }
        public override void WriteProgress(long sourceId, ProgressRecord record) { }
        public override void WriteVerboseLine(string message) { }
        public override void WriteWarningLine(string message) => host.Lines.Add("WARNING: " + message);
        public override Dictionary<string, PSObject> Prompt(string caption, string message, System.Collections.ObjectModel.Collection<FieldDescription> descriptions) =>
            throw new NotSupportedException("no prompt expected");
        public override int PromptForChoice(string caption, string message, System.Collections.ObjectModel.Collection<ChoiceDescription> choices, int defaultChoice)
        {
            host.Lines.Add("PROMPT: " + message);
            return host.Answer;
        }
        public override PSCredential PromptForCredential(string caption, string message, string userName, string targetName) => throw new NotSupportedException();
        public override PSCredential PromptForCredential(string caption, string message, string userName, string targetName, PSCredentialTypes allowedCredentialTypes, PSCredentialUIOptions options) => throw new NotSupportedException();
        public override string ReadLine() => throw new NotSupportedException();
        public override SecureString ReadLineAsSecureString() => throw new NotSupportedException();
    }
}

/// <summary>Paths of the repository (test data, sources) and scratch folders under the temporary directory.</summary>
public static class Repo
{
    public static string Root { get; } = FindRoot();

    private static string FindRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "ItkPs.sln"))) return d.FullName;
        throw new DirectoryNotFoundException("no ItkPs.sln above " + AppContext.BaseDirectory);
    }
}

/// <summary>A scratch folder (itkps-mt-*) removed after the test.</summary>
public sealed class Scratch : IDisposable
{
    public Scratch() { Directory.CreateDirectory(Path); }
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "itkps-mt-" + Guid.NewGuid().ToString("N"));
    public string Write(string relative, string text)
    {
        string full = System.IO.Path.Combine(Path, relative);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
        File.WriteAllText(full, text);
        return full;
    }

    /// <summary>Every file and folder below the scratch folder with its size, mode and content hash: any change shows.</summary>
    public List<string> Snapshot() =>
        Directory.EnumerateFileSystemEntries(Path, "*", SearchOption.AllDirectories).Order().Select(p =>
        {
            var mode = File.GetUnixFileMode(p);
            string content = File.Exists(p) ? Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(p))) : "dir";
            return $"{p} {mode} {content}";
        }).ToList();

    public void Dispose() { try { Directory.Delete(Path, true); } catch (IOException) { } }
}
