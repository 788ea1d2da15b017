# Real applications from Debian packages in tenant DocumentRoots, under real Apache + mpm-itk +
# mod_php and under itkd, from the same vhost file: DokuWiki (install, log in, edit; its private
# paths refused), WordPress with MariaDB (install, "Post name" permalinks written by WordPress
# itself, a post, /wp-json/, an upload, an application password over Basic auth). Then per-site
# PHP settings and isolation: php_admin_value open_basedir, two tenants' opcaches, a 0600
# .htaccess, a vhost pointed at another tenant's directory. Users itkh-a and itkh-b; Apache on
# 18520, itkd on 18521; MariaDB on a Unix socket only; all in /tmp/itkps-htaccess-*; every
# process started here is stopped by pid.
BeforeAll {
    Import-Module $env:ITKPS_MODULE_PATH -Force
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $script:Ports = @{ apache = 18520; itkd = 18521 }
    $script:Servers = @('apache', 'itkd')
    $script:Base = Join-Path ([IO.Path]::GetTempPath()) ("itkps-htaccess-apps-" + [guid]::NewGuid().ToString('N').Substring(0, 10))
    New-Item -ItemType Directory -Force "$Base/db", "$Base/logs" | Out-Null
    chmod 0755 $Base "$Base/logs"
    New-TestUser 'itkh-a'; New-TestUser 'itkh-b'
    $script:Uid = @{ a = [int](id -u itkh-a); b = [int](id -u itkh-b) }

    # MariaDB: its own data directory and socket, no TCP; a database per server's WordPress
    chown mysql:mysql "$Base/db"
    & mariadb-install-db --datadir="$Base/db/data" --user=mysql --auth-root-authentication-method=socket --skip-test-db *> "$Base/db/install.log"
    $script:Sql = "$Base/db/mysql.sock"
    $script:Maria = Start-Tool /usr/sbin/mariadbd @("--datadir=$Base/db/data", "--socket=$Sql", "--pid-file=$Base/db/mysqld.pid", '--skip-networking',
        '--user=mysql', "--log-error=$Base/db/error.log", '--skip-log-bin', '--innodb-buffer-pool-size=32M')
    Wait-Until { Test-Path $Sql } -What 'MariaDB to listen'
    foreach ($s in $Servers) {
        & mariadb --socket=$Sql -uroot -e "CREATE DATABASE wp_$s; CREATE USER 'wp_$s'@'localhost' IDENTIFIED BY 'pw-$s'; GRANT ALL ON wp_$s.* TO 'wp_$s'@'localhost';"
        $LASTEXITCODE | Should -Be 0
    }

    foreach ($s in $Servers) {
        $root = "$Base/$s"
        New-Item -ItemType Directory -Force $root | Out-Null
        # DokuWiki as its upstream tarball lays it out: conf/ and data/ inside the DocumentRoot
        & cp -rL /usr/share/dokuwiki "$root/doku"
        & cp -rL /etc/dokuwiki "$root/doku/conf"
        & cp -r /var/lib/dokuwiki/data "$root/doku/data"
        Remove-Item -Force "$root/doku/inc/preload.php", "$root/doku/conf/local.php", "$root/doku/conf/acl.auth.php", "$root/doku/conf/users.auth.php", "$root/doku/conf/apache.conf", "$root/doku/conf/lighttpd.conf"
        (Get-Content -Raw "$root/doku/conf/dokuwiki.php") -replace "(?m)^\`$conf\['savedir'\].*$", "`$conf['savedir'] = './data';" | Set-Content "$root/doku/conf/dokuwiki.php"
        # WordPress with a standard wp-config.php (Debian's looks in /etc/wordpress) and a minimal theme (Debian ships none)
        & cp -rL /usr/share/wordpress "$root/wp"
        Remove-Item -Force "$root/wp/wp-config.php", "$root/wp/.htaccess"
        New-Item -ItemType Directory -Force "$root/wp/wp-content/themes/plain", "$root/wp/wp-content/uploads" | Out-Null
        Set-Content "$root/wp/wp-content/themes/plain/style.css" "/*`nTheme Name: Plain`n*/"
        Set-Content "$root/wp/wp-content/themes/plain/index.php" '<?php while (have_posts()) { the_post(); echo "<h1>", get_the_title(), "</h1>", get_the_content(); }'
        (Get-Content -Raw "$root/wp/wp-config-sample.php") -replace 'database_name_here', "wp_$s" -replace 'username_here', "wp_$s" -replace 'password_here', "pw-$s" `
            -replace "'localhost'", "'localhost:$Sql'" `
            -replace '/\* Add any custom values between this line and the "stop editing" line. \*/', "define('WP_DEFAULT_THEME', 'plain');`ndefine('WP_ENVIRONMENT_TYPE', 'local');" |
            Set-Content "$root/wp/wp-config.php"
        # tenant a's small site for the PHP settings and isolation checks
        New-Item -ItemType Directory -Force "$root/a/private", "$root/b" | Out-Null
        Set-Content "$root/a/index.html" 'a'
        Set-Content "$root/a/private/x.txt" 'private'
        Set-Content "$root/a/private/.htaccess" 'Require all denied'
        Set-Content "$root/a/passwd.php" '<?php $r = @file_get_contents("/etc/passwd"); echo $r === false ? error_get_last()["message"] : "READ /etc/passwd", "\n", ini_get("open_basedir");'
        New-Item -ItemType Directory -Force "$root/a/loosen" | Out-Null
        Copy-Item "$root/a/passwd.php" "$root/a/loosen/passwd.php"
        Set-Content "$root/a/loosen/.htaccess" 'php_value open_basedir /'
        Set-Content "$root/a/secret.php" "<?php `$secret = 'secret-of-a-$s'; if (basename(`$_SERVER['SCRIPT_FILENAME']) === 'secret.php') echo 'cached';"
        Set-Content "$root/b/index.html" 'b'
        Set-Content "$root/b/steal.php" "<?php `$ok = @include '$root/a/secret.php'; echo `$ok ? `"STOLEN `$secret`" : error_get_last()['message'];"
        Set-Content "$root/b/.htaccess" 'Require all granted'
    }
    foreach ($s in $Servers) {
        foreach ($d in 'doku', 'wp', 'a') { chown -R 'itkh-a:itkh-a' "$Base/$s/$d" }
        chown -R 'itkh-b:itkh-b' "$Base/$s/b"
        chmod 0755 "$Base/$s"
        # each tenant's files are its own; the directories only traversable, so the opcache and
        # cross-vhost checks are about reading, not finding
        chmod 0711 "$Base/$s/a" "$Base/$s/b"
        chmod 0600 "$Base/$s/a/secret.php" "$Base/$s/a/private/.htaccess" "$Base/$s/b/.htaccess"
        chmod 0644 "$Base/$s/b/index.html"
    }

    $vhost = {
        param($name, $root, $user, $extra)
        @"
<VirtualHost 127.0.0.1:{PORT}>
    ServerName $name
    DocumentRoot $root
    AssignUserID $user $user
    ErrorLog $Base/logs/{SERVER}-$name.log
    DirectoryIndex index.php index.html
    <Directory $root>
        AllowOverride All
        Require all granted
    </Directory>
    <FilesMatch "\.php$">
        SetHandler application/x-httpd-php
    </FilesMatch>
    $extra
</VirtualHost>

"@
    }
    foreach ($s in $Servers) {
        $text = (& $vhost 'doku.test' "$Base/$s/doku" 'itkh-a' '') + (& $vhost 'wp.test' "$Base/$s/wp" 'itkh-a' '') +
            (& $vhost 'a.test' "$Base/$s/a" 'itkh-a' "php_admin_value open_basedir $Base/$s/a:/tmp") + (& $vhost 'b.test' "$Base/$s/b" 'itkh-b' '') +
            # tenant a's vhost pointed at tenant b's directory
            (& $vhost 'a-on-b.test' "$Base/$s/b" 'itkh-a' '')
        $text -replace '\{PORT\}', $Ports[$s] -replace '\{SERVER\}', $s | Set-Content "$Base/vhosts-$s.conf"
    }
    $common = "<Directory />`n    AllowOverride None`n    Require all denied`n</Directory>`n<Files `".ht*`">`n    Require all denied`n</Files>"
    "Listen 127.0.0.1:$($Ports.itkd)`nUser www-data`nGroup www-data`n$common`nInclude $Base/vhosts-itkd.conf" | Set-Content "$Base/itkd.conf"
    $modules = @('authz_core', 'authz_host', 'authz_user', 'authn_core', 'authn_file', 'auth_basic', 'access_compat', 'alias', 'dir', 'mime', 'env', 'setenvif', 'headers', 'expires', 'rewrite')
    @"
$(Get-ApacheTestConfig $Base $modules)
LoadModule php_module /usr/lib/apache2/modules/libphp8.2.so
TypesConfig /etc/mime.types
User www-data
Group www-data
Listen 127.0.0.1:$($Ports.apache)
$common
Include $Base/vhosts-apache.conf
"@ | Set-Content "$Base/apache.conf"
    & /usr/sbin/apache2 -f "$Base/apache.conf" -t 2>&1 | Should -Match 'Syntax OK'
    $env:APACHE_RUN_DIR = $Base; $env:APACHE_LOCK_DIR = $Base; $env:APACHE_LOG_DIR = $Base
    & /usr/sbin/apache2 -f "$Base/apache.conf" -k start
    $script:Itkd = Start-ItkServer -ConfigPath "$Base/itkd.conf" -ControlSocket "$Base/itkd.sock" -LogPath "$Base/itkd.log" -PassThru
    foreach ($s in $Servers) { Wait-Until { (Get-HttpStatus $Ports[$s] 'a.test' '/index.html') -eq 200 } -What "$s to answer" }

    # One request with curl, a cookie jar per server and site (none with -NoCookies): status, Location, body.
    function Invoke-Site([string] $Server, [string] $HostName, [string] $Path, [string[]] $Extra = @(), [switch] $NoCookies) {
        $jar = "$Base/cookies-$Server-$HostName.txt"
        $body = "$Base/body-$Server.txt"
        $cookies = if ($NoCookies) { @() } else { @('-c', $jar, '-b', $jar) }
        $w = & curl -s -o $body -w '%{http_code} %{redirect_url}' @cookies -H "Host: $HostName" --max-time 60 @Extra "http://127.0.0.1:$($Ports[$Server])$Path"
        $status, $location = "$w" -split ' ', 2
        [pscustomobject]@{ Status = [int]$status; Location = $location; Body = (Get-Content -Raw $body -ErrorAction SilentlyContinue) ?? '' }
    }
}

AfterAll {
    if ($env:ITKPS_KEEP_SCRATCH) { Write-Host "kept $Base"; return }  # for looking into a failure
    if (Test-Path "$Base/apache.pid") {
        $apachePid = [int](Get-Content "$Base/apache.pid")
        kill -TERM $apachePid
        Wait-Process -Id $apachePid -Timeout 15 -ErrorAction SilentlyContinue
    }
    if ($Itkd) { Stop-ItkServer -ControlSocket "$Base/itkd.sock" -Confirm:$false -ErrorAction SilentlyContinue; Wait-Process -Id $Itkd.Pid -Timeout 30 -ErrorAction SilentlyContinue }
    if ($Maria -and -not $Maria.HasExited) { kill -TERM $Maria.Id; $Maria.WaitForExit(20000) | Out-Null }
    Remove-TestUser 'itkh-a', 'itkh-b'
    Remove-Item -Recurse -Force $Base -ErrorAction SilentlyContinue
}

Describe 'DokuWiki from the Debian package in a tenant''s DocumentRoot' {
    It 'installs, logs in and saves a page under <_>' -ForEach @('apache', 'itkd') {
        $s = $_
        $r = Invoke-Site $s 'doku.test' '/install.php' @('--data', 'l=en&d[title]=Itk+Wiki&d[acl]=on&d[superuser]=admin&d[fullname]=Admin&d[email]=admin@example.invalid&d[password]=Adm1n-pw&d[confirm]=Adm1n-pw&d[policy]=0&d[license]=cc-by-sa&submit=Save')
        $r.Body | Should -Match 'The configuration was finished successfully'
        $null = Invoke-Site $s 'doku.test' '/doku.php'
        (Invoke-Site $s 'doku.test' '/doku.php' @('--data', 'do=login&id=start&u=admin&p=Adm1n-pw')).Status | Should -Be 302
        $edit = Invoke-Site $s 'doku.test' '/doku.php?id=start&do=edit'
        $edit.Body | Should -Match 'Logged in as'
        $token = [regex]::Match($edit.Body, 'name="sectok" value="([^"]*)"').Groups[1].Value
        $token | Should -Not -BeNullOrEmpty
        $save = Invoke-Site $s 'doku.test' '/doku.php' @('--data-urlencode', "wikitext=Saved under $s", '--data', "sectok=$token&id=start&rev=0&date=&prefix=.&suffix=&changecheck=&target=section&do[save]=Save&summary=test")
        $save.Status | Should -Be 302
        (Invoke-Site $s 'doku.test' '/doku.php?id=start').Body | Should -Match "Saved under $s"
        Get-Content -Raw "$Base/$s/doku/data/pages/start.txt" | Should -Match "Saved under $s"
    }

    It 'refuses every private path under both servers, as its .htaccess files say' {
        $private = '/data/pages/start.txt', '/data/meta/start.changes', '/data/cache/', '/data/index/', '/conf/users.auth.php', '/conf/local.php', '/conf/acl.auth.php',
            '/bin/dwpage.php', '/inc/init.php', '/vendor/autoload.php', '/VERSION', '/.htaccess', '/data/', '/conf/', '/bin/', '/inc/'
        foreach ($p in $private) {
            foreach ($s in $Servers) { (Invoke-Site $s 'doku.test' $p).Status | Should -Be 403 -Because "$p under $s" }
        }
        foreach ($p in '/doku.php', '/lib/exe/css.php', '/lib/tpl/dokuwiki/images/logo.png') {
            foreach ($s in $Servers) { (Invoke-Site $s 'doku.test' $p).Status | Should -Be 200 -Because "$p under $s" }
        }
    }
}

Describe 'WordPress from the Debian package with MariaDB' {
    It 'installs, takes "Post name" permalinks, publishes, uploads and answers Basic auth under <_>' -ForEach @('apache', 'itkd') {
        $s = $_
        $install = Invoke-Site $s 'wp.test' '/wp-admin/install.php?step=2' @('--data-urlencode', 'weblog_title=Itk Blog', '--data-urlencode', 'user_name=admin',
            '--data-urlencode', 'admin_password=Adm1n-pw-long!', '--data-urlencode', 'admin_password2=Adm1n-pw-long!', '--data-urlencode', 'admin_email=admin@example.invalid', '--data', 'blog_public=0&Submit=Install')
        $install.Body | Should -Match '<h1>Success!</h1>'
        $login = Invoke-Site $s 'wp.test' '/wp-login.php' @('-b', 'wordpress_test_cookie=WP%20Cookie%20check', '--data-urlencode', 'log=admin', '--data-urlencode', 'pwd=Adm1n-pw-long!', '--data', 'wp-submit=Log+In&testcookie=1')
        $login.Status | Should -Be 302
        $form = Invoke-Site $s 'wp.test' '/wp-admin/options-permalink.php'
        $nonce = [regex]::Match($form.Body, 'name="_wpnonce" value="([^"]*)"').Groups[1].Value
        $nonce | Should -Not -BeNullOrEmpty -Because 'the permalink screen is offered (WordPress believes the server rewrites)'
        (Invoke-Site $s 'wp.test' '/wp-admin/options-permalink.php' @('--data', "_wpnonce=$nonce&_wp_http_referer=/wp-admin/options-permalink.php&selection=/%25postname%25/&permalink_structure=/%25postname%25/&submit=Save")).Status | Should -Be 302
        $null = Invoke-Site $s 'wp.test' '/wp-admin/options-permalink.php?settings-updated=true'
        # WordPress itself wrote its block: it saw a server that rewrites
        Get-Content -Raw "$Base/$s/wp/.htaccess" | Should -Match ([regex]::Escape('RewriteRule . /index.php [L]'))

        $rest = (Invoke-Site $s 'wp.test' '/wp-admin/admin-ajax.php?action=rest-nonce').Body.Trim()
        $post = Invoke-Site $s 'wp.test' '/wp-json/wp/v2/posts' @('-H', "X-WP-Nonce: $rest", '-H', 'Content-Type: application/json', '--data', "{`"title`":`"Hello from $s`",`"content`":`"Body`",`"status`":`"publish`"}")
        $post.Status | Should -Be 201
        $slug = ($post.Body | ConvertFrom-Json).slug
        $app = Invoke-Site $s 'wp.test' '/wp-json/wp/v2/users/me/application-passwords' @('-H', "X-WP-Nonce: $rest", '-H', 'Content-Type: application/json', '--data', '{"name":"tests"}')
        $app.Status | Should -Be 201
        $password = ($app.Body | ConvertFrom-Json).password
        # Basic credentials reach PHP (PHP_AUTH_USER / PHP_AUTH_PW): WordPress takes the application password
        $me = Invoke-Site $s 'wp.test' '/wp-json/wp/v2/users/me?context=edit' @('-u', "admin:$password") -NoCookies
        $me.Status | Should -Be 200
        ($me.Body | ConvertFrom-Json).username | Should -Be 'admin'
        (Invoke-Site $s 'wp.test' '/wp-json/wp/v2/users/me?context=edit' @('-u', 'admin:wrong password') -NoCookies).Status | Should -Be 401
        $gif = "$Base/t-$s.gif"
        [IO.File]::WriteAllBytes($gif, [byte[]](0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 1, 0, 1, 0, 0, 0, 0, 0x3b))
        $media = Invoke-Site $s 'wp.test' '/wp-json/wp/v2/media' @('-u', "admin:$password", '-H', 'Content-Type: image/gif', '-H', 'Content-Disposition: attachment; filename=t.gif', '--data-binary', "@$gif") -NoCookies
        $media.Status | Should -Be 201
        $uploaded = ([uri](($media.Body | ConvertFrom-Json).source_url)).AbsolutePath
        (Invoke-Site $s 'wp.test' $uploaded).Status | Should -Be 200

        $page = Invoke-Site $s 'wp.test' "/$slug/"
        $page.Status | Should -Be 200
        $page.Body | Should -Match "<h1>Hello from $s</h1>"
        (Invoke-Site $s 'wp.test' '/no-such-post/').Status | Should -Be 404
        (Invoke-Site $s 'wp.test' '/wp-json/').Status | Should -Be 200
        (Invoke-Site $s 'wp.test' '/feed/').Body | Should -Match "Hello from $s"
    }
}

Describe 'per-site PHP settings and isolation' {
    It 'php_admin_value open_basedir blocks /etc/passwd under both servers, and a .htaccess php_value cannot lift it' {
        foreach ($s in $Servers) {
            foreach ($p in '/passwd.php', '/loosen/passwd.php') {
                $r = Invoke-Site $s 'a.test' $p
                $r.Status | Should -Be 200
                # PHP 8 reports the refusal as "Operation not permitted" (after an open_basedir warning)
                $r.Body | Should -Match '^file_get_contents\(/etc/passwd\): Failed to open stream: Operation not permitted' -Because "$p under $s"
                $r.Body | Should -Match ([regex]::Escape("$Base/$s/a:/tmp"))
            }
        }
    }

    It 'keeps two tenants'' opcaches apart: tenant b cannot run a''s cached 0600 script under itkd' {
        foreach ($s in $Servers) { (Invoke-Site $s 'a.test' '/secret.php').Body | Should -Be 'cached' -Because "tenant a ran its secret.php under $s" }
        $itkd = (Invoke-Site 'itkd' 'b.test' '/steal.php').Body
        # b's own php-fpm has its own opcache: it must read the file, and the kernel refuses b
        $itkd | Should -Match ([regex]::Escape("include(): Failed opening '$Base/itkd/a/secret.php' for inclusion"))
        $itkd | Should -Not -Match 'STOLEN'
        # Apache + mod_php shares one opcache between its mpm-itk children: shown, not asserted
        Write-Host "  Apache + mpm-itk + mod_php, tenant b including tenant a's cached script: $((Invoke-Site 'apache' 'b.test' '/steal.php').Body)"
    }

    It 'reads a 0600 .htaccess as its tenant' {
        foreach ($s in $Servers) {
            (Invoke-Site $s 'a.test' '/private/x.txt').Status | Should -Be 403 -Because "tenant a's 0600 .htaccess denies under $s"
            (Invoke-Site $s 'a.test' '/index.html').Status | Should -Be 200
        }
    }

    It 'a vhost of tenant a pointed at tenant b''s directory cannot read b''s .htaccess, and serves nothing under itkd' {
        (Invoke-Site 'itkd' 'a-on-b.test' '/index.html').Status | Should -Be 403 -Because "b's 0600 .htaccess is unreadable for a's worker"
        foreach ($s in $Servers) { (Invoke-Site $s 'b.test' '/index.html').Status | Should -Be 200 }
        # mpm-itk changes to the vhost's user after the directory walk: Apache reads .htaccess files as root. Shown, not asserted.
        Write-Host "  Apache + mpm-itk, tenant a's vhost on tenant b's directory (b's 0600 .htaccess): $((Invoke-Site 'apache' 'a-on-b.test' '/index.html').Status)"
        Wait-Until { (Get-Content -Raw "$Base/logs/itkd-a-on-b.test.log" -ErrorAction SilentlyContinue) -match 'unable to check htaccess file' } -TimeoutSeconds 5 -What 'the error log line'
    }
}
