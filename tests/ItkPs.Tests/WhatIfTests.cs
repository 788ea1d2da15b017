using Xunit;

namespace ItkPs.Tests;

/// <summary>
/// -WhatIf as PowerShell's own cmdlets do it: nothing changes, nothing but What-if lines is
/// written (no objects, no warnings), and $WhatIfPreference = $true gives the same lines.
/// </summary>
public class WhatIfTests : IClassFixture<ModuleSession>
{
    private readonly ModuleSession _session;
    public WhatIfTests(ModuleSession session) { _session = session; }

    private static readonly string SpecData = Path.Combine(Repo.Root, "tests/ItkPs.Core.Tests/TestData/spec/centos5-httpd.spec");
    private static readonly string ItkPatches = Path.Combine(Repo.Root, "tests/pester/fixtures/tiny-httpd/itk-patches");

    /// <summary>A scratch folder with a config root (two vhosts), a spec, and an RPM host's sysconfig and php.conf.</summary>
    private Scratch Fixture()
    {
        var s = new Scratch();
        Directory.CreateDirectory(Path.Combine(s.Path, "www"));
        var r = _session.Run($"""
            New-ItkVhost -Name shop.test -DocumentRoot '{s.Path}/www' -Alias www.shop.test -ConfigRoot '{s.Path}/etc'
            New-ItkVhost -Name blog.test -DocumentRoot '{s.Path}/www' -ConfigRoot '{s.Path}/etc'
            """);
        Assert.Empty(r.Errors);
        s.Write("www/index.html", "hello");
        s.Write("spec/httpd.spec", File.ReadAllText(SpecData));
        s.Write("host/etc/sysconfig/httpd", "#HTTPD=/usr/sbin/httpd.worker\n");
        s.Write("host/etc/httpd/conf.d/php.conf", "<IfModule prefork.c>\n  LoadModule php5_module modules/libphp5.so\n</IfModule>\n");
        s.Write("enabled/etc/sysconfig/httpd", "HTTPD=/usr/sbin/httpd.itk\n");
        s.Write("enabled/etc/httpd/conf.d/php.conf", "<IfModule !worker.c>\n  LoadModule php5_module modules/libphp5.so\n</IfModule>\n");
        return s;
    }

    public static IEnumerable<object[]> Commands =>
    [
        ["New-ItkVhost -Name new.test -DocumentRoot $s/nowhere -ConfigRoot $s/etc"],
        ["New-ItkVhost -Name shop.test -DocumentRoot $s/www -Force -ConfigRoot $s/etc"],
        ["Get-ItkVhost -ConfigRoot $s/etc | Set-ItkVhost -Nice 5 -MaxClients 3 -Alias x.test -DocumentRoot $s/nowhere"],
        ["Set-ItkVhost -Name shop.test -Php FastCgi -Cgi -ConfigRoot $s/etc"],
        ["Set-ItkUser -Name shop.test -User nobody -FixPermissions -ConfigRoot $s/etc"],
        ["Set-ItkUser -Name blog.test -User itkm-whatif -CreateUser -FixPermissions -ConfigRoot $s/etc"],
        ["Remove-ItkVhost -Name shop.test, blog.test -ConfigRoot $s/etc"],
        ["Edit-ItkSpec -Path $s/spec/httpd.spec"],
        ["Edit-ItkSpec -Path $s/spec/httpd.spec -OutFile $s/spec/out.spec"],
        ["Enable-ItkHttpd -Root $s/host"],
        ["Disable-ItkHttpd -Root $s/enabled"],
        ["New-ItkModuleSpec -Path $s/spec/httpd-itk.spec"],
        [$"Build-ItkRpm -SpecPath $s/spec/httpd.spec -ItkPatchPath '{ItkPatches}' -NoDeps"],
        ["Start-ItkServer -ConfigRoot $s/etc -ItkdPath /bin/true -ControlSocket $s/itkd.sock -LogPath $s/log/itkd.log"],
    ];

    [Theory]
    [MemberData(nameof(Commands))]
    public void WhatIfWritesOnlyWhatIfLinesChangesNothingAndEqualsWhatIfPreference(string command)
    {
        using var s = Fixture();
        var before = s.Snapshot();
        var temp = OurTemporaryFolders();

        var flag = _session.Run($"$s = '{s.Path}'; {command} -WhatIf");
        var preference = _session.Run($"$s = '{s.Path}'; $WhatIfPreference = $true; {command}");

        foreach (var run in new[] { flag, preference })
        {
            Assert.Empty(run.Errors);
            Assert.Empty(run.Output);
            Assert.Empty(run.Warnings);
            Assert.NotEmpty(run.HostLines);
            Assert.All(run.HostLines, l => Assert.StartsWith("What if: ", l));
        }
        Assert.Equal(flag.HostLines, preference.HostLines);
        Assert.Equal(before, s.Snapshot());
        Assert.Equal(temp, OurTemporaryFolders()); // no temporary copies (itkps-diff-*) or _topdirs (itkps-rpmbuild-*) either
        Assert.False(File.Exists("/etc/passwd") && File.ReadAllText("/etc/passwd").Contains("itkm-whatif:"), "-WhatIf created a user");
    }

    /// <summary>Folders the module makes under the temporary directory (the tests' own scratch folders, made in parallel, left out).</summary>
    private static List<string> OurTemporaryFolders() =>
        Directory.GetDirectories(Path.GetTempPath(), "itkps-*").Where(d => !Path.GetFileName(d).StartsWith("itkps-mt-", StringComparison.Ordinal)).Order().ToList();

    [Fact]
    public void EditItkSpecWhatIfShowsTheDiffInItsWhatIfLine()
    {
        using var s = Fixture();
        var r = _session.Run($"Edit-ItkSpec -Path '{s.Path}/spec/httpd.spec' -WhatIf");
        var line = Assert.Single(r.HostLines);
        Assert.Matches("^What if: Performing the operation \"Apply [0-9] mpm-itk edit\\(s\\):\n--- ", line);
        Assert.Contains("\n+%package -n httpd-itk", line);
    }

    [Fact]
    public void SettingWhatAVhostAlreadySaysWritesNothing()
    {
        using var s = Fixture();
        Assert.Empty(_session.Run($"Set-ItkVhost -Name shop.test -Nice 3 -ConfigRoot '{s.Path}/etc'").Errors);
        var before = s.Snapshot();
        var again = _session.Run($"Set-ItkVhost -Name shop.test -Nice 3 -Alias www.shop.test -ConfigRoot '{s.Path}/etc' -WhatIf");
        Assert.Empty(again.HostLines);
        var passThru = _session.Run($"Set-ItkVhost -Name shop.test -Nice 3 -ConfigRoot '{s.Path}/etc' -PassThru");
        Assert.Equal(3, (int)((dynamic)passThru.Output.Single()).Nice);
        Assert.Equal(before, s.Snapshot()); // not even a new .bak
    }

    [Fact]
    public void AnAlreadyDoneEditWritesNothingAndReportsNothing()
    {
        using var s = Fixture();
        Assert.Equal(2, _session.Run($"Enable-ItkHttpd -Root '{s.Path}/host'").Output.Count);
        Assert.Single(_session.Run($"Edit-ItkSpec -Path '{s.Path}/spec/httpd.spec'").Output);
        var before = s.Snapshot();
        var again = _session.Run($"Enable-ItkHttpd -Root '{s.Path}/host'; Edit-ItkSpec -Path '{s.Path}/spec/httpd.spec'");
        Assert.Empty(again.Errors);
        Assert.Empty(again.Output);
        Assert.Equal(before, s.Snapshot());
    }
}
