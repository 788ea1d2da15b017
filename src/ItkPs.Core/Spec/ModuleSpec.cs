namespace ItkPs.Core.Spec;

/// <summary>
/// For httpd 2.4 distributions, where mpm-itk is a loadable module on top of prefork: a spec
/// that builds mpm-itk against httpd-devel with apxs into mod_mpm_itk.so and ships the
/// LoadModule file 00-mpm-itk.conf.
/// </summary>
public static class ModuleSpec
{
    public const string DefaultVersion = "2.4.7-04";

    public static string LoadModuleConf =>
        "# mpm-itk: every vhost's requests run as its AssignUserID user. Needs the prefork MPM.\n" +
        "<IfModule mpm_prefork_module>\n" +
        "    LoadModule mpm_itk_module modules/mod_mpm_itk.so\n" +
        "</IfModule>\n";

    public static string Text(string itkVersion = DefaultVersion, string release = "1")
    {
        if (!System.Text.RegularExpressions.Regex.IsMatch(itkVersion, @"^\d+\.\d+\.\d+-\d+$"))
            throw new ArgumentException($"'{itkVersion}' is not an mpm-itk 2.4 version like 2.4.7-04.", nameof(itkVersion));
        string rpmVersion = itkVersion.Replace('-', '.'); // RPM versions cannot hold '-'
        return $$"""
            # mpm-itk {{itkVersion}} as a loadable module for the distribution's httpd 2.4.
            # Written by New-ItkModuleSpec (ItkPs).
            %{!?_httpd_apxs: %global _httpd_apxs %{_bindir}/apxs}
            %{!?_httpd_moddir: %global _httpd_moddir %{_libdir}/httpd/modules}
            %{!?_httpd_modconfdir: %global _httpd_modconfdir %{_sysconfdir}/httpd/conf.modules.d}

            Name: httpd-itk
            Version: {{rpmVersion}}
            Release: {{release}}%{?dist}
            Summary: MPM Itk for Apache HTTP Server
            Group: System Environment/Daemons
            License: ASL 2.0
            URL: http://mpm-itk.sesse.net/
            Source0: http://mpm-itk.sesse.net/mpm-itk-{{itkVersion}}.tar.gz
            Source1: 00-mpm-itk.conf
            BuildRequires: httpd-devel >= 2.4.7, libcap-devel, gcc, make
            Requires: httpd

            %description
            mpm-itk runs the requests of each virtual host under its own uid and gid
            (AssignUserID), so one site cannot read another's files. Built as
            mod_mpm_itk.so against this distribution's httpd with apxs; it sits on top
            of the prefork MPM.

            %prep
            %setup -q -n mpm-itk-{{itkVersion}}

            %build
            %configure --with-apxs=%{_httpd_apxs}
            make %{?_smp_mflags}

            %install
            install -D -m 755 .libs/mpm_itk.so %{buildroot}%{_httpd_moddir}/mod_mpm_itk.so
            install -D -m 644 %{SOURCE1} %{buildroot}%{_httpd_modconfdir}/00-mpm-itk.conf

            %files
            %{_httpd_moddir}/mod_mpm_itk.so
            %config(noreplace) %{_httpd_modconfdir}/00-mpm-itk.conf

            %changelog
            * {{DateTime.UtcNow.ToString("ddd MMM dd yyyy", System.Globalization.CultureInfo.InvariantCulture)}} ItkPs <itkps@example.invalid> - {{rpmVersion}}-{{release}}
            - mpm-itk {{itkVersion}} as a module for httpd 2.4

            """;
    }
}
