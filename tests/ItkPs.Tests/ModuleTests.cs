using System.Collections;
using System.Management.Automation;
using System.Reflection;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using Xunit;

namespace ItkPs.Tests;

/// <summary>The module's surface: manifest, help for every cmdlet and parameter, output types and their views, error ids.</summary>
public class ModuleTests : IClassFixture<ModuleSession>
{
    private readonly ModuleSession _session;
    public ModuleTests(ModuleSession session) { _session = session; }

    internal static Type[] CmdletTypes => typeof(Commands.ItkCmdlet).Assembly.GetTypes()
        .Where(t => !t.IsAbstract && t.GetCustomAttribute<CmdletAttribute>() is not null).ToArray();

    internal static string CmdletName(Type t)
    {
        var a = t.GetCustomAttribute<CmdletAttribute>()!;
        return $"{a.VerbName}-{a.NounName}";
    }

    public static IEnumerable<object[]> Cmdlets => CmdletTypes.Select(t => new object[] { CmdletName(t) });

    /// <summary>The module's own output types: what the cmdlets write, besides FileInfo and bool.</summary>
    private static Type[] OutputTypes => typeof(Commands.ItkCmdlet).Assembly.GetExportedTypes()
        .Where(t => t.Namespace == "ItkPs" && t.Name.EndsWith("Info", StringComparison.Ordinal)).ToArray();

    [Fact]
    public void ManifestExportsExactlyTheAssemblysCmdletsWithoutWildcards()
    {
        var output = _session.Run($"Import-PowerShellDataFile '{Path.Combine(AppContext.BaseDirectory, "ItkPs.psd1")}'").Output;
        var manifest = (Hashtable)output.Single().BaseObject;
        var exported = ((object[])manifest["CmdletsToExport"]!).Cast<string>().ToList();
        Assert.DoesNotContain(exported, e => e.Contains('*'));
        Assert.Equal(CmdletTypes.Select(CmdletName).Order(), exported.Order());
        Assert.Empty((object[])manifest["FunctionsToExport"]!);
        Assert.Empty((object[])manifest["AliasesToExport"]!);
    }

    [Theory]
    [MemberData(nameof(Cmdlets))]
    public void EveryCmdletHasHelpWithSynopsisDescriptionAndAnExampleThatUsesIt(string name)
    {
        var r = _session.Run($"Get-Help {name} -Full");
        Assert.Empty(r.Errors);
        dynamic help = r.Output.Single();
        string synopsis = ((string)help.Synopsis).Trim();
        Assert.False(synopsis.StartsWith(name, StringComparison.Ordinal), $"{name} has no MAML synopsis (Get-Help shows the syntax instead)");
        var description = _session.Run($"(Get-Help {name}).description.Text -join ' '").Output.Single().ToString();
        Assert.True(description.Length > 40, $"{name} has no description");
        var codes = _session.Run($"(Get-Help {name}).examples.example.code").Output.Select(o => o.ToString()).ToList();
        Assert.NotEmpty(codes);
        Assert.Contains(codes, c => c.Contains(name, StringComparison.Ordinal));
    }

    /// <summary>
    /// Each parameter's help is complete and agrees with the cmdlet: its text, its aliases, a
    /// default (None only for mandatory ones), and accepted values for enums, sets and ranges.
    /// Fails for a cmdlet or parameter that lacks any of them.
    /// </summary>
    [Theory]
    [MemberData(nameof(Cmdlets))]
    public void EveryParameterHelpListsTextAliasesDefaultAndAcceptedValues(string name)
    {
        var parameters = _session.Run($"(Get-Command {name}).Parameters.Values").Output.Select(o => (ParameterMetadata)o.BaseObject)
            .Where(p => !Cmdlet.CommonParameters.Contains(p.Name)).ToList();
        var help = _session.Run($"(Get-Help {name}).parameters.parameter").Output.ToDictionary(o => o.Properties["name"].Value.ToString()!);
        foreach (var p in parameters)
        {
            Assert.True(help.TryGetValue(p.Name, out var h), $"{name} -{p.Name} is not in the help");
            string text = string.Join(" ", _session.Run("$args[0].description.Text", h!).Output.Select(o => o.ToString()));
            Assert.True(text.Length > 10, $"{name} -{p.Name} has no description");
            string aliases = h!.Properties["aliases"]?.Value?.ToString() ?? "";
            Assert.Equal(p.Aliases.Count == 0 ? "none" : string.Join(", ", p.Aliases), aliases);
            string defaultValue = h.Properties["defaultValue"]?.Value?.ToString() ?? "";
            Assert.False(string.IsNullOrWhiteSpace(defaultValue), $"{name} -{p.Name} has no default value in its help");
            bool mandatory = p.ParameterSets.Values.All(s => s.IsMandatory);
            if (defaultValue == "None") Assert.True(mandatory, $"{name} -{p.Name} is optional but its help gives no default");

            var type = Nullable.GetUnderlyingType(p.ParameterType) ?? p.ParameterType;
            var set = p.Attributes.OfType<ValidateSetAttribute>().FirstOrDefault();
            string[] accepted = set is not null ? set.ValidValues.ToArray() : type.IsEnum ? Enum.GetNames(type) : [];
            if (accepted.Length > 0)
            {
                var listed = _session.Run("$args[0].parameterValueGroup.parameterValue", h).Output.Select(o => o.ToString()).ToArray();
                Assert.Equal(accepted, listed);
            }
            if (p.Attributes.OfType<ValidateRangeAttribute>().FirstOrDefault() is { } range)
                Assert.Contains($"Accepted values: {range.MinRange}", text);
        }
    }

    [Theory]
    [MemberData(nameof(Cmdlets))]
    public void EveryCmdletDeclaresOutputTypesOfTheModuleOnly(string name)
    {
        var type = CmdletTypes.Single(t => CmdletName(t) == name);
        var outputs = type.GetCustomAttributes<OutputTypeAttribute>().SelectMany(a => a.Type).Select(t => t.Type).ToList();
        Assert.NotEmpty(outputs);
        Assert.True(type.IsSealed, $"{type.Name} should be sealed");
        foreach (var t in outputs)
            Assert.True(t == typeof(FileInfo) || t == typeof(bool) || OutputTypes.Contains(t), $"{name} writes {t.FullName}, not one of the module's output types");
    }

    /// <summary>What Get-Member shows a user: read-only properties and Object's four methods, nothing of Core's model.</summary>
    [Fact]
    public void OutputTypesAreReadOnlyAndShowNothingButTheirProperties()
    {
        Assert.Equal(["ConfigDiagnosticInfo", "FileEditInfo", "IsolationFindingInfo", "PermissionChangeInfo", "PoolInfo", "ServerInfo", "SpecEditInfo", "VhostInfo"],
            OutputTypes.Select(t => t.Name).Order());
        foreach (var t in OutputTypes)
        {
            Assert.True(t.IsSealed, t.Name);
            Assert.Empty(t.GetConstructors()); // made by the cmdlets only
            foreach (var p in t.GetProperties(BindingFlags.Public | BindingFlags.Instance))
            {
                Assert.Null(p.SetMethod); // not even init: PowerShell can call an init accessor
                // Of Core only its enums show (PhpMode, DiagnosticSeverity, IsolationProblem), never its mutable model.
                var pt = Nullable.GetUnderlyingType(p.PropertyType) ?? (p.PropertyType.IsArray ? p.PropertyType.GetElementType()! : p.PropertyType);
                if (pt.Namespace?.StartsWith("ItkPs.Core", StringComparison.Ordinal) == true) Assert.True(pt.IsEnum, $"{t.Name}.{p.Name} is Core's {pt.Name}");
            }
            Assert.Equal(["Equals", "GetHashCode", "GetType", "ToString"],
                t.GetMethods(BindingFlags.Public | BindingFlags.Instance).Where(m => !m.IsSpecialName).Select(m => m.Name).Order());
        }
    }

    [Fact]
    public void GetMemberOfAVhostShowsWhatAUserUses()
    {
        using var s = new Scratch();
        var r = _session.Run($"New-ItkVhost -Name shop.test -DocumentRoot '{s.Path}' -ConfigRoot '{s.Path}/etc'; Get-ItkVhost -ConfigRoot '{s.Path}/etc' | Get-Member -MemberType Property | ForEach-Object {{ '{{0}} {{1}}' -f $_.Name, ($_.Definition -replace '^\\S+ \\S+ ', '') }}");
        Assert.Empty(r.Errors);
        Assert.Equal(["Aliases {get;}", "Cgi {get;}", "ConfigFile {get;}", "DocumentRoot {get;}", "File {get;}", "Group {get;}", "Line {get;}", "Listen {get;}",
            "MaxClients {get;}", "Name {get;}", "Nice {get;}", "Php {get;}", "User {get;}"], r.Output.Select(o => o.ToString()));
    }

    [Fact]
    public void EveryOutputTypeHasATableViewAsItsDefault()
    {
        var views = XDocument.Load(Path.Combine(AppContext.BaseDirectory, "ItkPs.Format.ps1xml")).Descendants("View")
            .Select(v => (Type: v.Element("ViewSelectedBy")!.Element("TypeName")!.Value, Table: v.Element("TableControl") is not null)).ToList();
        foreach (var t in OutputTypes)
        {
            var first = views.FirstOrDefault(v => v.Type == t.FullName);
            Assert.True(first.Type is not null, $"{t.FullName} has no view");
            Assert.True(first.Table, $"{t.FullName}'s first (default) view is not a table");
        }
        Assert.DoesNotContain(views, v => v.Type.StartsWith("ItkPs.Core.", StringComparison.Ordinal));
    }

    [Fact]
    public void ChangingCmdletsSupportShouldProcessAndRemoveAndStopAreHighImpact()
    {
        foreach (var t in CmdletTypes.Where(t => CmdletName(t).Split('-')[0] is "New" or "Set" or "Remove" or "Edit" or "Enable" or "Disable" or "Start" or "Stop" or "Restart" or "Build"))
            Assert.True(t.GetCustomAttribute<CmdletAttribute>()!.SupportsShouldProcess, CmdletName(t));
        Assert.Equal(ConfirmImpact.High, typeof(Commands.RemoveItkVhostCommand).GetCustomAttribute<CmdletAttribute>()!.ConfirmImpact);
        Assert.Equal(ConfirmImpact.High, typeof(Commands.StopItkServerCommand).GetCustomAttribute<CmdletAttribute>()!.ConfirmImpact);
    }

    /// <summary>
    /// One class of ErrorIds: every error record of the module is made by Errors with an
    /// ErrorIds constant (no string literal ids, no ErrorRecord built elsewhere), each id is
    /// its own name, and every constant is used.
    /// </summary>
    [Fact]
    public void EveryErrorIdIsAConstantOfErrorIdsAndEachIsUsed()
    {
        var sources = Directory.EnumerateFiles(Path.Combine(Repo.Root, "src/ItkPs"), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains("/obj/") && !f.Contains("/bin/")).ToDictionary(f => f, File.ReadAllText);
        foreach (var (file, text) in sources.Where(s => !s.Key.EndsWith("ErrorIds.cs")))
        {
            Assert.DoesNotMatch(new Regex(@"new\s+ErrorRecord\s*\("), text);
            foreach (Match m in Regex.Matches(text, @"Errors\.\w+\(\s*([^,\s]+)"))
                Assert.True(m.Groups[1].Value.StartsWith("ErrorIds.", StringComparison.Ordinal), $"{Path.GetFileName(file)}: {m.Value} does not pass an ErrorIds constant");
        }
        var all = string.Concat(sources.Where(s => !s.Key.EndsWith("ErrorIds.cs")).Select(s => s.Value));
        foreach (var f in typeof(ErrorIds).GetFields(BindingFlags.Public | BindingFlags.Static))
        {
            Assert.Equal(f.Name, f.GetValue(null));
            Assert.Contains("ErrorIds." + f.Name, all);
        }
    }
}
