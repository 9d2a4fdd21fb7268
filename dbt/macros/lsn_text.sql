{#- A 64-bit LSN (as <t>_changes.lsn holds it) in Postgres' X/Y notation: hex without leading zeros. -#}
{% macro astros_lsn_text(lsn) -%}
    concat(
        if(intDiv({{ lsn }}, 4294967296) = 0, '0', replaceRegexpOne(hex(toUInt32(intDiv({{ lsn }}, 4294967296))), '^0+', '')),
        '/',
        if({{ lsn }} % 4294967296 = 0, '0', replaceRegexpOne(hex(toUInt32({{ lsn }} % 4294967296)), '^0+', ''))
    )
{%- endmacro %}
