{{ config(unique_key=['review_key']) }}

-- Product reviews from the inbox's reviews/<storefront>/ files: one row per review and inbox
-- folder. A review given again in a later file (a new export of the same reviews) replaces the
-- earlier one: the latest import wins, and within one file the last row.
with source as (
    {{ lake_source('files', 'reviews') }}
),

renamed as (
    select
        {{ lake_columns() }},
        review_id as source_review_id,
        storefront_id,
        product_id as channel_product_ref,
        lower(trim(product_handle)) as product_handle,
        upper(trim(product_sku)) as product_sku,
        cast(rating as integer) as rating,
        title as review_title,
        body as review_text,
        reviewer_id,
        reviewer_name,
        reviewer_email_sha256,
        reviewed_at,
        is_verified as is_verified_by_source,
        status as source_status,
        source_format,
        _source_file as source_file,
        cast(_source_row as bigint) as source_row
    from source
)

select
    connection_name || ':' || source_review_id as review_key,
    *
from renamed
qualify row_number() over (
    partition by connection_name, source_review_id
    order by extracted_at desc, source_row desc
) = 1
