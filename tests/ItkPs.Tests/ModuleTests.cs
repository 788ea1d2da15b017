using System.Collections;
using System.Management.Automation;
using System.Management.Automation.Runspaces;
using System.Reflection;
using Xunit;

namespace ItkPs.Tests;

/// <summary>Runs PowerShell in-process with the module imported from this test's output folder.</summary>
public sealed class ModuleSession : IDisposable
{
    public ModuleSession()
    {
        var iss = InitialSessionState.CreateDefault2();
        iss.ImportPSModule(Path.Combine(AppContext.BaseDirectory, "ItkPs.psd1"));
        Runspace = RunspaceFactory.CreateRunspace(iss);
        Runspace.Open();
    }

    public Runspace Runspace { get; }

    public (List<PSObject> Output, List<ErrorRecord> Errors) Run(string script)
    {
        using var ps = PowerShell.Create(Runspace);
        ps.AddScript(script);
        var output = ps.Invoke().ToList();
        return (output, ps.Streams.Error.ToList());
    }

    public void Dispose() => Runspace.Dispose();
}

/// <summary>The module's surface: manifest, help for every cmdlet, output types, error ids.</summary>
public class ModuleTests : IClassFixture<ModuleSession>
{
    private static readonly string[] Common =
    [
        "Verbose", "Debug", "ErrorAction", "WarningAction", "InformationAction", "ProgressAction", "ErrorVariable",
        "WarningVariable", "InformationVariable", "OutVariable", "OutBuffer", "PipelineVariable", "WhatIf", "Confirm",
    ];

    private readonly ModuleSession _session;
    public ModuleTests(ModuleSession session) { _session = session; }

    private static Type[] CmdletTypes => typeof(Commands.ItkCmdlet).Assembly.GetTypes()
        .Where(t => !t.IsAbstract && t.GetCustomAttribute<CmdletAttribute>() is not null).ToArray();

    private static string CmdletName(Type t)
    {
        var a = t.GetCustomAttribute<CmdletAttribute>()!;
        return $"{a.VerbName}-{a.NounName}";
    }

    public static IEnumerable<object[]> Cmdlets => CmdletTypes.Select(t => new object[] { CmdletName(t) });

    [Fact]
    public void ManifestExportsExactlyTheAssemblysCmdletsWithoutWildcards()
    {
        var (output, errors) = _session.Run($"Import-PowerShellDataFile '{Path.Combine(AppContext.BaseDirectory, "ItkPs.psd1")}'");
        Assert.Empty(errors);
        var manifest = (Hashtable)output.Single().BaseObject;
        var exported = ((object[])manifest["CmdletsToExport"]!).Cast<string>().ToList();
        Assert.DoesNotContain(exported, e => e.Contains('*'));
        Assert.Equal(CmdletTypes.Select(CmdletName).Order(), exported.Order());
        Assert.Empty((object[])manifest["FunctionsToExport"]!);
        Assert.Empty((object[])manifest["AliasesToExport"]!);
    }

    [Theory]
    [MemberData(nameof(Cmdlets))]
    public void EveryCmdletHasHelpWithSynopsisParametersAndAnExample(string name)
    {
        var (output, errors) = _session.Run($"Get-Help {name} -Full");
        Assert.Empty(errors);
        dynamic help = output.Single();
        string synopsis = ((string)help.Synopsis).Trim();
        Assert.False(synopsis.StartsWith(name, StringComparison.Ordinal), $"{name} has no MAML synopsis (Get-Help shows the syntax instead)");
        Assert.NotEmpty(synopsis);
        Assert.NotNull(help.description);
        Assert.NotNull(help.examples);

        var (cmd, _) = _session.Run($"(Get-Command {name}).Parameters.Keys");
        var documented = _session.Run($"(Get-Help {name}).parameters.parameter | Where-Object {{ $_.description.Text }} | ForEach-Object name").Output
            .Select(o => o.ToString()).ToHashSet();
        foreach (var p in cmd.Select(o => o.ToString()).Where(p => !Common.Contains(p)))
            Assert.True(documented.Contains(p), $"{name} -{p} has no help text");
        var examples = _session.Run($"@((Get-Help {name}).examples.example).Count").Output.Single();
        Assert.True((int)examples.BaseObject >= 1, $"{name} has no example");
    }

    [Theory]
    [MemberData(nameof(Cmdlets))]
    public void EveryCmdletDeclaresItsOutputType(string name)
    {
        var type = CmdletTypes.Single(t => CmdletName(t) == name);
        Assert.NotEmpty(type.GetCustomAttributes<OutputTypeAttribute>());
        Assert.True(type.IsSealed, $"{type.Name} should be sealed");
    }

    [Fact]
    public void ChangingCmdletsSupportShouldProcessAndRemoveIsHighImpact()
    {
        foreach (var t in CmdletTypes.Where(t => CmdletName(t).Split('-')[0] is "New" or "Set" or "Remove"))
            Assert.True(t.GetCustomAttribute<CmdletAttribute>()!.SupportsShouldProcess, CmdletName(t));
        Assert.Equal(ConfirmImpact.High, typeof(Commands.RemoveItkVhostCommand).GetCustomAttribute<CmdletAttribute>()!.ConfirmImpact);
    }

    [Theory]
    [InlineData("New-ItkVhost -Name 'not a name' -DocumentRoot /tmp -ConfigRoot $root", "InvalidServerName")]
    [InlineData("New-ItkVhost -Name ok.test -DocumentRoot /tmp -Listen nowhere -ConfigRoot $root", "InvalidListen")]
    [InlineData("New-ItkVhost -Name ok.test -DocumentRoot /tmp -User itkps-no-such-user -ConfigRoot $root", "UserNotFound")]
    [InlineData("New-ItkVhost -Name ok.test -DocumentRoot /tmp -User root -ConfigRoot $root", "RootIdRefused")]
    [InlineData("Get-ItkVhost -Name missing.test -ConfigRoot $root", "VhostNotFound")]
    [InlineData("Set-ItkVhost -Name missing.test -Nice 1 -ConfigRoot $root", "VhostNotFound")]
    public void BadInputGivesAStableErrorIdAndWritesNothing(string command, string errorId)
    {
        string root = Path.Combine(Path.GetTempPath(), "itkps-mt-" + Guid.NewGuid().ToString("N"));
        try
        {
            var (_, errors) = _session.Run($"$root = '{root}'; {command}");
            var error = Assert.Single(errors);
            Assert.StartsWith(errorId + ",", error.FullyQualifiedErrorId);
            Assert.False(Directory.Exists(root), "a failed command must not create the config root");
        }
        finally { if (Directory.Exists(root)) Directory.Delete(root, true); }
    }

    [Fact]
    public void VhostNamesComplete()
    {
        string root = Path.Combine(Path.GetTempPath(), "itkps-mt-" + Guid.NewGuid().ToString("N"));
        try
        {
            var (_, errors) = _session.Run($"New-ItkVhost -Name shop.test -DocumentRoot /tmp -ConfigRoot '{root}'; New-ItkVhost -Name blog.test -DocumentRoot /tmp -ConfigRoot '{root}' -WarningAction SilentlyContinue");
            Assert.Empty(errors);
            var (output, _) = _session.Run($"$line = \"Get-ItkVhost -ConfigRoot '{root}' -Name sh\"; (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches | ForEach-Object CompletionText");
            Assert.Equal(["shop.test"], output.Select(o => o.ToString()));
        }
        finally { if (Directory.Exists(root)) Directory.Delete(root, true); }
    }
}
